"""What the bench prints: its results on stdout, its progress on stderr."""

from __future__ import annotations

import sys


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def progress(text: str) -> None:
    sys.stderr.write(f"umbrella bench: {text}\n")
    sys.stderr.flush()
