"""Typed rows: a stored row (an asyncpg record, a mapping) read into a frozen dataclass, each field
from the column of the same name. Repositories return these instead of `dict[str, Any]`; this is the
one place that reads a row's columns by name."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Row = TypeVar("Row", bound="DataclassInstance")


class Columns(Protocol):
    """A stored row by column name."""

    def __getitem__(self, column: str) -> Any: ...


def from_row(cls: type[Row], row: Columns, **converted: Any) -> Row:
    """`cls` from `row`: each field from the column of its name, except those given in `converted`
    (a value read differently, e.g. an array as a tuple). Other columns are ignored."""
    return cls(**{f.name: converted[f.name] if f.name in converted else row[f.name] for f in fields(cls)})
