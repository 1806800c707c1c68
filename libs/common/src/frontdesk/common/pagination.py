"""Cursor pagination for every list route: a page of at most `limit` rows, and where the next begins.

A list route takes `limit` (default 100, at most 500: 422 above) and `cursor` (opaque: base64url of
the last row's sort key, as the previous page handed it out). It fetches `limit + 1` rows after the
cursor, in its own stable order that ends with a unique column, and answers the first `limit`.

Where the next page begins: a route that answers a JSON array (the shape existing clients know) sends
`X-Next-Cursor: <cursor>` and `Link: <same URL with cursor=...>; rel="next"` (RFC 8288) when there is
more, and no such header on the last page; a route that answers an object has `next_cursor` in it
(null on the last page).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request, Response

DEFAULT_PAGE = 100
MAX_PAGE = 500
NEXT_CURSOR_HEADER = "X-Next-Cursor"
Row = TypeVar("Row")


def encode_cursor(key: Sequence[object]) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else str(v) for v in key]
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise HTTPException(422, "invalid cursor: pass the one a previous page answered") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise HTTPException(422, "invalid cursor: pass the one a previous page answered")
    return values


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None

    def after(self, *types: Callable[[str], Any]) -> tuple[Any, ...]:
        """The previous page's last sort key, one value per column converted by `types` (e.g.
        datetime.fromisoformat, str), or a tuple of None on the first page (SQL: `$n IS NULL OR ...`)."""
        if self.cursor is None:
            return tuple(None for _ in types)
        values = _decode(self.cursor)
        if len(values) != len(types):
            raise HTTPException(422, "invalid cursor: it belongs to another list")
        try:
            return tuple(convert(v) for convert, v in zip(types, values, strict=True))
        except ValueError:
            raise HTTPException(422, "invalid cursor: pass the one a previous page answered") from None

    @property
    def fetch(self) -> int:
        """How many rows to ask the database for: one more than the page, to know if there is more."""
        return self.limit + 1

    def cut(self, rows: list[Row], key: Callable[[Row], Sequence[object]]) -> tuple[list[Row], str | None]:
        """(this page's rows, the cursor of the next page or None) from `fetch` rows."""
        if len(rows) <= self.limit:
            return rows, None
        page = rows[: self.limit]
        return page, encode_cursor(key(page[-1]))


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Rows per page (at most {MAX_PAGE})")] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="Where to go on: the cursor a previous page answered")
    ] = None,
) -> PageRequest:
    return PageRequest(limit, cursor)


Page = Annotated[PageRequest, Depends(page_request)]


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """For a route answering a JSON array: the next page's cursor in `X-Next-Cursor` and `Link`."""
    if next_cursor is None:
        return
    response.headers[NEXT_CURSOR_HEADER] = next_cursor
    response.headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'


def array_page(
    request: Request, response: Response, page: PageRequest, rows: list[Row], key: Callable[[Row], Sequence[object]]
) -> list[Row]:
    """Cut `rows` (fetched with `page.fetch`) to the page and link the next one."""
    shown, next_cursor = page.cut(rows, key)
    link_next(request, response, next_cursor)
    return shown
