"""Cursor pagination (issue 16, item 11): the cursor round-trips a sort key, a page is cut at `limit`
with the next cursor from its last row, and a forged or foreign cursor is a 422."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.common.pagination import PageRequest, encode_cursor


@given(st.datetimes(timezones=st.just(UTC)), st.text(min_size=1, max_size=60))
def test_issue16_item11_a_cursor_round_trips_its_sort_key(at: datetime, key: str) -> None:
    page = PageRequest(10, encode_cursor([at, key]))
    assert page.after(datetime.fromisoformat, str) == (at, key)


def test_the_first_page_has_no_cursor() -> None:
    assert PageRequest(10, None).after(datetime.fromisoformat, str) == (None, None)


def test_a_page_is_cut_at_its_limit_with_the_cursor_of_its_last_row() -> None:
    rows = [{"id": f"r{i}"} for i in range(4)]
    page = PageRequest(3, None)
    shown, next_cursor = page.cut(rows, lambda row: [row["id"]])
    assert shown == rows[:3] and next_cursor is not None
    assert PageRequest(3, next_cursor).after(str) == ("r2",)
    assert page.cut(rows[:3], lambda row: [row["id"]]) == (rows[:3], None)
    assert page.fetch == 4


@pytest.mark.parametrize("cursor", ["not a cursor", "e30", encode_cursor(["a", "b", "c"]), encode_cursor(["x", "y"])])
def test_a_forged_or_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(HTTPException) as refused:
        PageRequest(10, cursor).after(datetime.fromisoformat, str)
    assert refused.value.status_code == 422
