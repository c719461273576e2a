"""A report as a chat message: its title, the headline numbers with their change on the
previous period, the written highlights, and where to get the files (attached, or a link to
the report on the Reports page, which asks the reader to sign in)."""

from datetime import date
from urllib.parse import urlencode

from metrics.registry import KPIS, format_value
from shop_analytics.alerts.messages import Line, Message
from shop_analytics.reports.content import Report
from shop_analytics.reports.wording import change, days_span, words

MESSAGE_KPIS = ("gmv", "orders", "aov", "active_users", "conversion_rate")


def report_link(app_url: str, start: date, end: date, lang: str) -> str:
    """The Reports page of the deployment at `app_url` with the report's period as the
    dashboard's period (its link parameters) and its language: the page offers that report
    (week or month, from the period's length) to build with one click, after signing in."""
    return f"{app_url.rstrip('/')}/reports?{urlencode({'from': start.isoformat(), 'to': end.isoformat(), 'lang': lang})}"


def report_message(report: Report, *, link: str | None, attached: tuple[str, ...] = ()) -> Message:
    """The message: headline numbers (value and change on the previous period), the
    highlights, then the attached files' names or the link to the report."""
    lang, currency, period = report.lang, report.settings.currency, report.period
    title = words(f"title_{period.kind}", lang, span=days_span(period.start, period.end, lang))
    numbers = []
    for name in MESSAGE_KPIS:
        row = report.kpi[name]
        value = format_value(KPIS[name], row["current"], currency, lang=lang)
        numbers.append(Line(words("message.kpi", lang, kpi=KPIS[name].label_in(lang), value=value, change=change(row["change_vs_previous"]))))
    files = (Line(words("message.attached", lang, files=words("list_separator", lang).join(attached))) if attached
             else Line(words("message.open", lang), link) if link else Line(words("message.on_page", lang)))
    sections = (
        (words("sections.kpis", lang), tuple(numbers)),
        (words("sections.highlights", lang), tuple(Line(sentence) for sentence in report.highlights)),
        (words("message.files", lang), (files,)),
    )
    return Message(title, sections, lang)


def message_record(message: Message) -> dict:
    """The message as JSON, to send it again later without rebuilding the report."""
    return {"title": message.title, "language": message.language,
            "sections": [[heading, [[line.text, line.link] for line in lines]] for heading, lines in message.sections]}


def message_from_record(record: dict) -> Message:
    return Message(record["title"], tuple((heading, tuple(Line(text, link) for text, link in lines)) for heading, lines in record["sections"]),
                   record["language"])
