"""Keyset pagination: every list is paged by an opaque, signed cursor, never by OFFSET.

A view asks for `cursor: str | None = None, limit: Limit = DEFAULT_LIMIT`; the service
opens a `Pager` for its list, lets it narrow the query to the rows after the cursor, fetches
`pager.fetch` rows in `pager.order_by(...)` order and answers `pager.page(rows, item)`: a
typed `ListPage` the envelope encodes as `page_of(Model)` documents it.

    pager = Pager(settings, "files", cursor=cursor, limit=limit)
    where = Conditions()
    where.add("f.artist_id = {}", artist_id)
    pager.narrow(where, alias="f")
    rows = await db.fetch(
        f"SELECT … FROM files f WHERE {where.sql}"
        f" ORDER BY {pager.order_by('f')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, FileOut.model_validate)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, create_model

from umbrella.config import Settings
from umbrella.core.errors import ValidationFailed
from umbrella.core.signing import BadSignature, Signer
from umbrella.core.sql import Conditions

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 100.")]

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


@cache
def page_of(model: type[BaseModel]) -> type[BaseModel]:
    """`Page[model]` under a name OpenAPI accepts (`GigOutPage`)."""
    named: type[BaseModel] = create_model(f"{model.__name__}Page", __base__=Page[model])  # type: ignore[valid-type]
    return named


class Cursors:
    """Cursors of one list (`kind`): a cursor of another list, or an edited one, is refused."""

    def __init__(self, settings: Settings, kind: str) -> None:
        self._signer = Signer(settings, f"cursor:{kind}")

    def encode(self, position: dict[str, Any]) -> str:
        return self._signer.dumps(position)

    def decode(self, cursor: str | None) -> dict[str, Any] | None:
        """The position after which the next page starts; None for the first page."""
        if cursor is None or cursor == "":
            return None
        try:
            return self._signer.loads(cursor)
        except BadSignature:
            raise ValidationFailed(
                "The cursor is not valid. Start again from the first page.", field="cursor"
            ) from None

    def next_cursor(
        self, rows: Sequence[R], limit: int, position: Callable[[R], dict[str, Any]]
    ) -> str | None:
        """Query `limit + 1` rows: the extra one says whether a next page exists.

        The cursor holds the sort key of the last row shown (`rows[limit - 1]`).
        """
        return self.encode(position(rows[limit - 1])) if len(rows) > limit else None


# -- the keyset helper ------------------------------------------------------------------------


def _cursor_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True)
class Keyset:
    """The order of a list: one sort column, then `id` to break ties, both one direction.

    `key` names the sort value inside the cursor and `parse` turns it back into the column's
    type; a row's position is its sort value and its id.
    """

    column: str
    key: str
    descending: bool
    parse: Callable[[Any], Any] = str

    def order_by(self, alias: str) -> str:
        direction = " DESC" if self.descending else ""
        return f"{alias}.{self.column}{direction}, {alias}.id{direction}"

    def narrow(self, where: Conditions, position: Mapping[str, Any], *, alias: str) -> None:
        """Keep the rows after `position` in this order."""
        comparison = "<" if self.descending else ">"
        where.add(
            f"({alias}.{self.column}, {alias}.id) {comparison} ({{}}, {{}})",
            self.parse(position[self.key]),
            UUID(position["id"]),
        )

    def position(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {self.key: _cursor_value(row[self.column]), "id": str(row["id"])}


# Most lists show the newest rows first; named things (contact lists, folders) go by name.
NEWEST_FIRST = Keyset("created_at", "at", descending=True, parse=datetime.fromisoformat)
BY_NAME = Keyset("name", "name", descending=False)


@dataclass(frozen=True)
class ListPage(Generic[T]):
    """One page of a list as a service answers it (the envelope encodes a dataclass as is)."""

    items: list[T]
    next_cursor: str | None


class Pager:
    """One request's page of a keyset-paged list: the cursor read, the query narrowed, cut.

    `kind` names the list in its cursors (a cursor of another list is refused); include
    the parent's id for a list under one (`contact-members:<list id>`).
    """

    def __init__(
        self,
        settings: Settings,
        kind: str,
        *,
        cursor: str | None,
        limit: int,
        keyset: Keyset = NEWEST_FIRST,
    ) -> None:
        self.cursors = Cursors(settings, kind)
        self.position = self.cursors.decode(cursor)
        self.limit = limit
        self.keyset = keyset

    @property
    def fetch(self) -> int:
        """How many rows to fetch: one more than the page says whether another page follows."""
        return self.limit + 1

    def order_by(self, alias: str) -> str:
        return self.keyset.order_by(alias)

    def narrow(self, where: Conditions, *, alias: str) -> None:
        """Keep the rows after the cursor's (nothing to do on the first page)."""
        if self.position is not None:
            self.keyset.narrow(where, self.position, alias=alias)

    def page(self, rows: Sequence[R], item: Callable[[R], T]) -> ListPage[T]:
        """The first `limit` rows as items, and the cursor of the next page if there is one."""
        return ListPage(
            items=[item(row) for row in rows[: self.limit]],
            next_cursor=self.cursors.next_cursor(rows, self.limit, self._position),
        )

    def _position(self, row: Any) -> dict[str, Any]:
        return self.keyset.position(row)
