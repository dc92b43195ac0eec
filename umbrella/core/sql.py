"""Building a statement's WHERE from optional filters, for `db.fetch` (`$n` placeholders).

Each value gets its `$n` the moment it is added, in order: a condition is written with `{}`
where its values go (`where.add("f.category = {}", category)`), a value used elsewhere in
the statement is bound with `where.param(value)`, which answers its placeholder. The
statement then passes `*where.values`. Conditions joined to values bound elsewhere start
their numbers after them (`Conditions(first=len(values) + 1)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Conditions:
    """SQL conditions joined by AND, and every value of the statement, numbered in order."""

    first: int = 1
    parts: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        """Bind a value; its `$n` placeholder."""
        self.values.append(value)
        return f"${self.first + len(self.values) - 1}"

    def add(self, condition: str, *values: Any) -> None:
        """Add a condition, its `{}` placeholders taking `values` in order."""
        pieces = condition.split("{}")
        if len(pieces) - 1 != len(values):
            raise ValueError(f"{len(values)} values for {condition!r}")
        numbered = [pieces[0]]
        for value, piece in zip(values, pieces[1:], strict=True):
            numbered.append(f"{self.param(value)}{piece}")
        self.parts.append("".join(numbered))

    @property
    def sql(self) -> str:
        """The conditions joined by AND (`true` when there are none)."""
        return " AND ".join(self.parts) or "true"
