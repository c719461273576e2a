"""The text of a PDF's pages as a reader's viewer gives it: PDFium, Chrome's PDF engine.

Not pypdf's extract_text: where WeasyPrint embeds a Latin font (Liberation or DejaVu, the
fonts of a machine without a CJK font) with its own encoding CMap, pypdf reads the two-byte
codes one byte at a time ("\\x00W\\x00e..." for "We"), while PDFium and poppler read the same
file as the words it shows."""

import pypdfium2 as pdfium


def pdf_pages_text(content: bytes) -> list[str]:
    """Each page's text, in page order."""
    document = pdfium.PdfDocument(content)
    try:
        return [page.get_textpage().get_text_bounded() for page in document]
    finally:
        document.close()
