"""A tiny iCalendar reader for the tests: unfold, split into events, unescape TEXT."""

from __future__ import annotations


def unfold(text: str) -> str:
    return text.replace("\r\n ", "").replace("\r\n\t", "")


def unescape(value: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            following = value[index + 1]
            out.append("\n" if following in "nN" else following)
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def properties(lines: list[str]) -> dict[str, str]:
    """Name (with its parameters, `DTSTART;VALUE=DATE`) to raw value, one of each."""
    found = {}
    for line in lines:
        name, _, value = line.partition(":")
        found[name] = value
    return found


def events(text: str) -> list[dict[str, str]]:
    """The properties of every VEVENT, in order (values still escaped)."""
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", ""), "a bare line feed"
    lines = unfold(text).split("\r\n")[:-1]
    found: list[dict[str, str]] = []
    current: list[str] | None = None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = []
        elif line == "END:VEVENT":
            assert current is not None
            found.append(properties(current))
            current = None
        elif current is not None:
            current.append(line)
    return found
