"""Event-time arithmetic: the recorded readings of "days", "months" and "one year"."""

import pytest

from clauseline.eventtime import add_days, add_months, add_years, age_on, format_time, parse_date, parse_time


@pytest.mark.parametrize("start, months, expected", [
    ("2019-07-01T09:00:00Z", -12, "2018-07-01T09:00:00Z"),
    ("2019-03-31T10:00:00Z", -1, "2019-02-28T10:00:00Z"),   # clamped to the month's end
    ("2020-03-31T00:00:00Z", -1, "2020-02-29T00:00:00Z"),   # leap year
    ("2019-12-15T00:00:00Z", 1, "2020-01-15T00:00:00Z"),    # across the year
])
def test_add_months(start, months, expected):
    assert format_time(add_months(parse_time(start), months)) == expected


def test_one_year_from_a_leap_day_is_28_february():
    assert format_time(add_years(parse_time("2020-02-29T12:00:00Z"), 1)) == "2021-02-28T12:00:00Z"


def test_days_are_calendar_days_in_utc_whatever_the_offset():
    assert format_time(add_days(parse_time("2019-07-01T20:00:00-05:00"), 45)) == "2019-08-16T01:00:00Z"


def test_age_is_whole_years_on_the_utc_date():
    birth = parse_date("2006-07-02")
    assert age_on(birth, parse_time("2019-07-01T23:59:59Z")) == 12
    assert age_on(birth, parse_time("2019-07-01T20:00:00-05:00")) == 13  # already 07-02 in UTC
