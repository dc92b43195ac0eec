"""Building a WHERE clause from optional filters, for `db.fetch` (`$n` placeholders).

Conditions are written with `{}` where a value goes (their numbers are not known until the
statement is put together); `numbered()` gives them asyncpg's `$1, $2 …`, and `param()`
adds one more value after them (a LIMIT) and answers its placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Conditions:
    """SQL conditions joined by AND, each with its `{}` placeholders' values, in order."""

    parts: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def add(self, condition: str, *values: Any) -> None:
        if condition.count("{}") != len(values):
            raise ValueError(f"{len(values)} values for {condition!r}")
        self.parts.append(condition)
        self.values.extend(values)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts) or "true"

    def param(self, value: Any) -> str:
        """Add a value used outside the conditions; its `$n` placeholder."""
        self.values.append(value)
        return f"${len(self.values)}"

    def numbered(self, first: int = 1) -> str:
        """The conditions with asyncpg's `$n` placeholders, numbered from `first`."""
        pieces = self.sql.split("{}")
        numbered = [pieces[0]]
        for number, piece in enumerate(pieces[1:], start=first):
            numbered.append(f"${number}{piece}")
        return "".join(numbered)
