"""Time values on the twin's two time axes (valid time and record time).

Times are stored as fixed-width UTC ISO 8601 strings so that they sort and compare as text in
any SQL engine. Naive times from Dutch sources (BGT, BAG) are read as Europe/Amsterdam.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tweeling.core.errors import InputError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_text(value: datetime) -> str:
    """Fixed-width text form of an aware datetime, in UTC."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone first")
    return value.astimezone(UTC).strftime(_FORMAT)


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)  # the fixed 'Z' form of to_text (C speed, aware)


def parse_time(value: object, *, default_tz: ZoneInfo = AMSTERDAM, what: str = "time") -> datetime:
    """Parse a date or datetime from a source or a user.

    Accepts ISO 8601 dates and datetimes (with or without offset, 'Z' allowed) and
    ``datetime``/``date`` objects. Naive values are taken to be in ``default_tz``.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise InputError(f"empty {what}")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{what} {value!r} is not an ISO 8601 date or time") from None
    else:
        raise InputError(f"{what} {value!r} is not a date or time")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return dt


def parse_optional_time(value: object, **kwargs) -> datetime | None:
    """Like :func:`parse_time`, but ``None`` and empty strings mean 'not given'."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_time(value, **kwargs)


def user_time_text(value: object, *, what: str = "time") -> str:
    """A time a user gave, as the store's UTC text; years 1000-9999 in UTC (the fixed-width
    text the store compares; 0001-01-01 in Amsterdam does not exist in UTC at all)."""
    dt = parse_time(value, what=what)
    try:
        utc = dt.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1000 <= utc.year <= 9999:
        raise InputError(f"{what} {str(value)[:40]!r}: out of range (years 1000 to 9999)")
    return to_text(utc)
