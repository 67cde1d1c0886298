"""Periods of time by name, as people ask for them: a year (`2024`), a month (`2024-06`), a meteorological season
(`2024-JJA`: June–August; `2024-DJF` is December 2023 to February 2024, the winter that ends in that year), and
the periods of a range cut by months, seasons or years (a time series' steps).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

SEASONS = {"DJF": 12, "MAM": 3, "JJA": 6, "SON": 9}  # each season's first month
STEPS = ("month", "season", "year")
_NAME = re.compile(r"(\d{4})(?:-(\d{2}|DJF|MAM|JJA|SON))?")


class PeriodError(ValueError):
    """A period's name or range that means nothing; the message says what is accepted."""


@dataclass(frozen=True)
class Period:
    """A named span of days, both ends included."""

    name: str
    start: date
    end: date


def _months(year: int, month: int, count: int) -> tuple[date, date]:
    """The first day of `month` of `year` (month may be 0 or below: earlier years) and the last of `count` months."""
    first = date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    last_index = first.year * 12 + first.month - 1 + count - 1
    y, m = divmod(last_index, 12)
    return first, date(y, m + 1, calendar.monthrange(y, m + 1)[1])


def period(name: str) -> Period:
    """The period a name means: `2024`, `2024-06` or `2024-JJA` (seasons: DJF, MAM, JJA, SON)."""
    match = _NAME.fullmatch(name.strip().upper())
    if match is None:
        raise PeriodError(f"{name[:30]!r} is not a period: give a year (2024), a month (2024-06) or a season "
                          "(2024-DJF, 2024-MAM, 2024-JJA, 2024-SON)")
    year, part = int(match.group(1)), match.group(2)
    if part is None:
        return Period(str(year), date(year, 1, 1), date(year, 12, 31))
    if part.isdigit():
        if not 1 <= int(part) <= 12:
            raise PeriodError(f"{name[:30]!r}: the month must be 01 to 12")
        start, end = _months(year, int(part), 1)
        return Period(f"{year}-{part}", start, end)
    first = SEASONS[part] - (12 if part == "DJF" else 0)  # DJF of 2024 starts in December 2023
    start, end = _months(year, first, 3)
    return Period(f"{year}-{part}", start, end)


def periods(start: date, end: date, step: str) -> list[Period]:
    """The months, seasons or years that meet the range from `start` to `end` (whole periods, in order)."""
    if step not in STEPS:
        raise PeriodError(f"step {step!r}: one of {', '.join(STEPS)}")
    if end < start:
        raise PeriodError(f"the range ends ({end}) before it starts ({start})")
    found: list[Period] = []
    if step == "year":
        return [period(str(y)) for y in range(start.year, end.year + 1)]
    if step == "month":
        y, m = start.year, start.month
        while date(y, m, 1) <= end:
            found.append(period(f"{y}-{m:02d}"))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return found
    # seasons: the one holding `start`, then every three months
    season_year = start.year + (1 if start.month == 12 else 0)
    names = [name for name, first in SEASONS.items() if start.month in {first, first % 12 + 1, (first + 1) % 12 + 1}]
    current = period(f"{season_year}-{names[0]}")
    while current.start <= end:
        found.append(current)
        order = list(SEASONS)
        nxt = order[(order.index(current.name[5:]) + 1) % 4]
        current = period(f"{current.end.year + (1 if nxt == 'DJF' else 0)}-{nxt}")
    return found
