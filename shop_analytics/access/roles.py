"""Roles and the pages each may open: the one table the navigation, every page and every
user-level export are checked against.

Each role adds to the one before it: a viewer reads the dashboards; a manager also the
reports and the targets (set on the Targets page); an analyst also every exploratory view and
the rows of single users, on screen and in downloads (who dropped off a funnel step, a
segment's audience, the orders of a day, who abandoned a cart); an admin also the data
sources and the alert rules.
"""

ROLES = ("viewer", "manager", "analyst", "admin")

# The least role that opens each page (file stem in pages/ = URL path).
PAGE_ROLES = {
    "overview": "viewer",
    "channels": "viewer",
    "campaigns": "viewer",
    "products": "viewer",
    "service": "viewer",
    "checkout": "viewer",
    "reports": "manager",
    "targets": "manager",
    "funnel": "analyst",
    "paths": "analyst",
    "cohorts": "analyst",
    "segments": "analyst",
    "demand": "analyst",
    "explore": "analyst",
    "data_source": "admin",
    "alerts": "admin",
}

# The least role that may see rows of single users or their orders (ids with their
# attributes), on any page and in any download; the roles below it see aggregates only.
USER_ROWS = "analyst"


def check_role(role: object, where: str = "role") -> str:
    """`role` if it is one of ROLES, else ValueError saying which there are."""
    if role not in ROLES:
        raise ValueError(f"{where} {role!r} is not a role; the roles are {', '.join(ROLES)}.")
    return role


def _at_least(role: str, least: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(least)


def may_open(role: str, page: str) -> bool:
    """Whether `role` may open `page`; a page missing from PAGE_ROLES opens for nobody."""
    return page in PAGE_ROLES and _at_least(role, PAGE_ROLES[page])


def may_see_users(role: str | None) -> bool:
    """Whether `role` may see rows of single users or their orders, on screen and in downloads
    (USER_ROWS and above); no role (nobody signed in) may not."""
    return role is not None and _at_least(role, USER_ROWS)


def pages_for(role: str) -> list[str]:
    """The pages `role` may open, in PAGE_ROLES order."""
    return [page for page in PAGE_ROLES if may_open(role, page)]
