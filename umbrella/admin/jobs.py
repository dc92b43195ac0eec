"""`umbrella admin jobs …`: list the jobs held as failed and put them back on the queue."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `jobs failed` and `jobs retry` to the `umbrella admin` command group."""
