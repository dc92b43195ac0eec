"""Which SQL statements break the release before them (the expand/contract rule).

During a rolling upgrade the previous release's pods serve requests against the migrated
schema. A migration must only *expand* it: new tables, nullable columns or ones with a
default, indexes, constraints the old code already satisfies. Dropping or renaming a table
or column, changing a column's type, and a NOT NULL column the old code does not write
(added without a default, or set NOT NULL later) are *contract* steps: they belong in a
later release, once no running code uses the old shape, and say so with `CONTRACT`.
"""

from __future__ import annotations

import re

# Quoted text and comments could hold any word: they are blanked before matching, in one
# pass so that a quote inside a comment (or `--` inside a string) is read as what it is.
_QUOTED_OR_COMMENT = re.compile(
    r"(?P<quoted>\$(?P<tag>\w*)\$.*?\$(?P=tag)\$|'(?:[^']|'')*')|--[^\n]*|/\*.*?\*/",
    re.DOTALL,
)

_DROP_RELATION = re.compile(r"^DROP\s+(TABLE|VIEW|MATERIALIZED\s+VIEW)\b")
_ALTER_TABLE = re.compile(
    r"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>[\w.\"]+)\s+(?P<actions>.*)$",
    re.DOTALL,
)
# `DROP x` inside ALTER TABLE drops a column unless it names one of these.
_DROP_NOT_A_COLUMN = re.compile(r"^DROP\s+(CONSTRAINT|DEFAULT|NOT\s+NULL|EXPRESSION|IDENTITY)\b")
_RENAME_CONSTRAINT = re.compile(r"^RENAME\s+CONSTRAINT\b")
_ALTER_TYPE = re.compile(r"^ALTER\s+(COLUMN\s+)?[\w\"]+\s+(SET\s+DATA\s+)?TYPE\b")
_SET_NOT_NULL = re.compile(r"^ALTER\s+(COLUMN\s+)?[\w\"]+\s+SET\s+NOT\s+NULL\b")
_ADD_COLUMN = re.compile(
    r"^ADD\s+(COLUMN\s+)?(IF\s+NOT\s+EXISTS\s+)?(?!(CONSTRAINT|CHECK|UNIQUE|PRIMARY|FOREIGN|EXCLUDE)\b)[\w\"]+\s"
)


def _blank(sql: str) -> str:
    return _QUOTED_OR_COMMENT.sub(lambda match: "''" if match["quoted"] else " ", sql)


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses (a CHECK's commas are not the action's)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def contracting_steps(sql: str) -> list[str]:
    """Each step of `sql` (one or more statements) that the previous release cannot live with."""
    found = []
    for statement in _split_top_level(_blank(sql), ";"):
        normal = " ".join(statement.split()).upper()
        if _DROP_RELATION.match(normal):
            found.append(f"drops a table or view: {normal}")
            continue
        altered = _ALTER_TABLE.match(normal)
        if altered is None:
            continue
        table = altered["table"]
        for action in _split_top_level(altered["actions"], ","):
            problem = _contracting_action(action)
            if problem:
                found.append(f"{problem} on {table}: {action}")
    return found


def _contracting_action(action: str) -> str | None:
    if action.startswith("DROP") and not _DROP_NOT_A_COLUMN.match(action):
        return "drops a column"
    if action.startswith("RENAME") and not _RENAME_CONSTRAINT.match(action):
        return "renames a table or column"
    if _ALTER_TYPE.match(action):
        return "changes a column's type"
    if _SET_NOT_NULL.match(action):
        return "makes a column NOT NULL"
    added = _ADD_COLUMN.match(action)
    if added and re.search(r"\bNOT\s+NULL\b", action) and not re.search(r"\bDEFAULT\b", action):
        return "adds a NOT NULL column without a default"
    return None
