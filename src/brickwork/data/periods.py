"""What a series' time column says: how far apart its rows are, and so its natural season.

    frequency(["1958-03-29", "1958-04-05", ...])  ->  ("weekly", 52)
    frequency(["1700", "1701", ...])              ->  ("yearly", None)

Only unambiguous forms are read: whole years (1000-2999), decimal years (1959.083), ISO
dates and date-times (2020-01-31, 2020-01-31 13:00), year-months (2020-01) and quarters
(2020Q1, 2020-Q1). Anything else gives no frequency, and the season is then left to the
data (see brickwork.forecast.seasonal_period). Yearly data has no season unless one is given.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np

# Column names that mark a time column (compared lower-case, stripped).
TIME_NAMES = {
    "date",
    "time",
    "datetime",
    "timestamp",
    "ds",
    "year",
    "yr",
    "month",
    "period",
    "week",
    "day",
    "quarter",
    "index",
    "unnamed: 0",
}
# (name, typical spacing in days, natural season in rows, tolerance as a fraction)
FREQUENCIES = (
    ("hourly", 1 / 24, 24, 0.1),
    ("daily", 1.0, 7, 0.1),
    ("weekly", 7.0, 52, 0.1),
    ("monthly", 30.44, 12, 0.1),
    ("quarterly", 91.3, 4, 0.05),
    ("yearly", 365.25, None, 0.02),
)
_QUARTER = re.compile(r"(\d{4})[- ]?[Qq]([1-4])")
_YEAR_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")


def is_time_name(name: str) -> bool:
    return name.strip().lower() in TIME_NAMES


def to_days(value: str) -> float | None:
    """A time cell as days since year 0 (approximately, for spacing only), or None."""
    value = value.strip()
    if re.fullmatch(r"\d{4}(\.\d+)?", value) and 1000 <= float(value) < 3000:
        return float(value) * 365.25
    if m := _QUARTER.fullmatch(value):
        return int(m[1]) * 365.25 + (int(m[2]) - 1) * 91.3125
    if (m := _YEAR_MONTH.fullmatch(value)) and 1 <= int(m[2]) <= 12:
        return int(m[1]) * 365.25 + (int(m[2]) - 1) * 30.4375
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.toordinal() + (when.hour * 3600 + when.minute * 60 + when.second) / 86400


def frequency(cells: list[str]) -> tuple[str | None, int | None]:
    """(frequency name, natural season) from a time column's cells; (None, None) when the
    cells are not all readable times, not increasing, or not evenly spaced."""
    days = [to_days(c) for c in cells]
    if len(days) < 3 or any(d is None for d in days):
        return None, None
    steps = np.diff(np.asarray(days, dtype=np.float64))
    if (steps <= 0).any():
        return None, None
    typical = float(np.median(steps))
    for name, spacing, season, tolerance in FREQUENCIES:
        if abs(typical - spacing) <= tolerance * spacing + 1e-9:
            return name, season
    return None, None
