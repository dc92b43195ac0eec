"""How big a scale dataset to load, and the `umbrella seed` flags that say it.

Apart from `umbrella.dataset.builder` (which imports the app's services) so that building
the `umbrella` command line stays cheap for every command, not only `seed`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSize:
    """How much to load; 0 means "not requested" (and lets `resolved` pick a sane number)."""

    artists: int = 0
    venues: int = 0
    gigs: int = 0
    messages: int = 0
    conversations: int = 0
    fans: int = 0
    seed: int = 1

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The `umbrella seed` flags; without any count, `seed` keeps writing the demo data."""
        group = parser.add_argument_group(
            "scale dataset (benchmarks and development only, never production)"
        )
        for name, help_text in (
            ("artists", "artist users with profiles"),
            ("venues", "venue users (default: one per 100 gigs)"),
            ("gigs", "gigs from a year ago to six months ahead"),
            ("messages", "messages over the conversations"),
            ("conversations", "conversations (default: one per 25 messages)"),
            ("fans", "opted-in email members of one artist's contact list"),
        ):
            group.add_argument(f"--{name}", type=_count, default=0, metavar="N", help=help_text)
        group.add_argument(
            "--seed", type=int, default=1, metavar="S", help="random seed (default: 1)"
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DatasetSize | None:
        """The requested size, or None when no count was given (the demo seed then)."""
        size = cls(
            artists=int(getattr(args, "artists", 0) or 0),
            venues=int(getattr(args, "venues", 0) or 0),
            gigs=int(getattr(args, "gigs", 0) or 0),
            messages=int(getattr(args, "messages", 0) or 0),
            conversations=int(getattr(args, "conversations", 0) or 0),
            fans=int(getattr(args, "fans", 0) or 0),
            seed=int(getattr(args, "seed", 1) or 0),
        )
        counts = (size.artists, size.venues, size.gigs, size.messages, size.conversations)
        return size if any(counts) or size.fans else None

    def resolved(self) -> DatasetSize:
        """Fill in the counts that follow from others; raise ValueError if it cannot be built."""
        venues = self.venues or (max(1, self.gigs // 100) if self.gigs else 0)
        conversations = self.conversations or (max(1, self.messages // 25) if self.messages else 0)
        if self.messages and not conversations:
            raise ValueError("messages need at least one conversation")
        if conversations and self.artists < 2 and not (self.artists and venues):
            raise ValueError("conversations need two artists, or an artist and a venue")
        if self.fans and not self.artists:
            raise ValueError("a contact list belongs to an artist: ask for --artists too")
        pairs = self.artists * venues + self.artists * (self.artists - 1) // 2
        if conversations > pairs // 2:
            raise ValueError(f"{conversations} conversations is too many for these users")
        return DatasetSize(
            artists=self.artists,
            venues=venues,
            gigs=self.gigs,
            messages=self.messages,
            conversations=conversations,
            fans=self.fans,
            seed=self.seed,
        )


def _count(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
