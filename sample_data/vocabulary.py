"""The values the sample shop's categorical columns take; arrays hold indexes into these."""

from connectors.schema import EVENT_TYPES

CHANNELS = ("organic", "paid_search", "social", "email", "affiliate", "direct")
CHANNEL = {name: code for code, name in enumerate(CHANNELS)}
PAID_CHANNELS = ("paid_search", "social", "affiliate", "email")

DEVICES = ("app", "mobile_web", "desktop")
DEVICE_SHARES = (0.52, 0.28, 0.20)

CATEGORIES = ("Apparel", "Beauty", "Electronics", "Home", "Food", "Baby", "Sports", "Books")
# Share of browsing sessions that are about each category.
CATEGORY_INTEREST = (0.22, 0.16, 0.14, 0.14, 0.12, 0.08, 0.09, 0.05)

EVENT = {name: code for code, name in enumerate(EVENT_TYPES)}

PAGES = ("home", "category", "campaign", "search", "product", "cart", "checkout", "order_success")
PAGE = {name: code for code, name in enumerate(PAGES)}

ORDER_STATUSES = ("pending", "paid", "shipped", "completed", "refunded", "cancelled")
STATUS = {name: code for code, name in enumerate(ORDER_STATUSES)}
