"""Who reaches which checks and reminders, the one policy of the API and the pages: pharmacists and admins every
check and reminder; a prescriber the checks they made and the reminders those checks scheduled.

A check that exists but is not the caller's is answered exactly like one that does not exist, so that its id
reveals nothing."""
from __future__ import annotations

from stewardship.accounts import User

REVIEWER_ROLES = ("pharmacist", "admin")


def requester_scope(user: User | None) -> str | None:
    """The requester whose checks this caller is limited to, or None for every check: pharmacists and admins, and
    no user at all (`STEWARDSHIP_AUTH=off`, local development)."""
    if user is None or user.role in REVIEWER_ROLES:
        return None
    return user.name


def may_see(user: User | None, requester: str | None) -> bool:
    """Whether the caller may read and act on a check made by `requester`."""
    scope = requester_scope(user)
    return scope is None or scope == requester
