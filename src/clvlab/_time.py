"""Time units: one table, no hidden constants.

A time unit is a fixed length of time measured in days. ``"D"`` and ``"W"`` are exact;
``"M"`` and ``"Y"`` are the *mean* Gregorian month and year (the Gregorian calendar repeats
every 400 years = 146,097 days = 4,800 months), so fractional ages in months or years
are exact averages, never the 30-day month of other libraries.
"""

from __future__ import annotations

GREGORIAN_YEAR_DAYS = 146097 / 400  # 365.2425
GREGORIAN_MONTH_DAYS = GREGORIAN_YEAR_DAYS / 12  # 30.436875

#: Length of each supported time unit, in days.
UNIT_DAYS: dict[str, float] = {
    "D": 1.0,
    "W": 7.0,
    "M": GREGORIAN_MONTH_DAYS,
    "Y": GREGORIAN_YEAR_DAYS,
}

UNIT_NAMES: dict[str, str] = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}


def check_time_unit(time_unit: object, name: str = "time_unit") -> str:
    """Return ``time_unit`` if it is one of ``UNIT_DAYS``, else raise a clear ``ValueError``.

    Parameters
    ----------
    time_unit : object
        Candidate unit code.
    name : str, default="time_unit"
        Argument name used in the message.

    Returns
    -------
    str
        The validated unit code.
    """
    if not isinstance(time_unit, str) or time_unit not in UNIT_DAYS:
        allowed = ", ".join(repr(u) for u in UNIT_DAYS)
        raise ValueError(
            f"{name} must be one of {allowed} (days, weeks, mean Gregorian months, "
            f"mean Gregorian years); got {time_unit!r}."
        )
    return time_unit


def unit_days(time_unit: str) -> float:
    """Length of ``time_unit`` in days (validated)."""
    return UNIT_DAYS[check_time_unit(time_unit)]


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a duration ``value`` from one time unit to another."""
    return value * unit_days(from_unit) / unit_days(to_unit)
