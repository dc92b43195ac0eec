"""The Piccolo declaration of a search document column (migrations/search, search_0002).

In core: the artists and gigs tables declare it, and the search domain sits above both.

Postgres computes the column (`GENERATED ALWAYS AS (...) STORED`) and refuses any value but
DEFAULT for it, while Piccolo writes every declared column: the default below makes a
Piccolo insert write DEFAULT. Never pass a value for it; `save()` of a fetched row would
send the fetched vector back and fail, so update rows with `Table.update` or SQL.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns.base import Column
from piccolo.querystring import QueryString


def _database_default() -> QueryString:
    return QueryString("DEFAULT")


class SearchDocument(Column):
    """A `tsvector` the database generates; reads as its text form."""

    value_type = str

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(null=True)
        super().__init__(**kwargs)
        # Read by Piccolo for every row it inserts (Column.get_default_value).
        self.default = _database_default

    @property
    def column_type(self) -> str:
        return "tsvector"
