"""Keyset pagination: every list is paged by an opaque, signed cursor, never by OFFSET.

A view asks for `cursor: str | None = None, limit: Limit = DEFAULT_LIMIT`, decodes the
cursor into the sort key of the last row it returned, and answers `page_of(Model)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
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


# Most lists show the newest rows first, keyed on (created_at, id); named things (contact
# lists, folders) go by (name, id). These are the two keysets.


def add_newest_first(where: Conditions, position: dict[str, Any] | None, *, alias: str) -> None:
    """Keep the rows after the cursor's row of a list ordered by `created_at DESC, id DESC`."""
    if position is not None:
        where.add(
            f"({alias}.created_at, {alias}.id) < ({{}}, {{}})",
            datetime.fromisoformat(position["at"]),
            UUID(position["id"]),
        )


def newest_first_position(row: dict[str, Any]) -> dict[str, Any]:
    """The cursor position of a row of a newest-first list (`add_newest_first` reads it)."""
    return {"at": row["created_at"].isoformat(), "id": str(row["id"])}


def add_after_name(where: Conditions, position: dict[str, Any] | None, *, alias: str) -> None:
    """Keep the rows after the cursor's row of a list ordered by `name, id`."""
    if position is not None:
        where.add(
            f"({alias}.name, {alias}.id) > ({{}}, {{}})", position["name"], UUID(position["id"])
        )


def name_position(row: dict[str, Any]) -> dict[str, Any]:
    """The cursor position of a row of a by-name list (`add_after_name` reads it)."""
    return {"name": row["name"], "id": str(row["id"])}
