from decimal import Decimal

from piccolo.columns import (
    JSONB,
    UUID,
    Boolean,
    Date,
    ForeignKey,
    Numeric,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Check
from piccolo.table import Table

from umbrella.artists.tables import Artist

JOURNAL_ENTRY_TYPES = ("text", "video", "mixed")
GOAL_TYPES = ("earnings", "gigs", "followers", "tracks", "custom")


class JournalEntry(Table, tablename="journal_entries"):
    """A Creative Studio journal entry: an ordered list of JSON blocks."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    title = Varchar(length=200)
    blocks = JSONB(default="[]")
    entry_type = Varchar(length=8, default="text")
    created_at = Timestamptz()
    updated_at = Timestamptz()

    journal_entries_blocks_check = Check("jsonb_typeof(blocks) = 'array'")
    journal_entries_entry_type_check = Check("entry_type IN ('text', 'video', 'mixed')")


class Goal(Table, tablename="goals"):
    """A target an artist sets (earnings, gigs, followers, tracks or custom) and its progress."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    title = Varchar(length=200)
    description = Text(null=True, default=None)
    goal_type = Varchar(length=16)
    target_value = Numeric(digits=(12, 2))
    current_value = Numeric(digits=(12, 2), default=Decimal("0"))
    target_date = Date(null=True, default=None)
    completed = Boolean(default=False)
    completed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    goals_title_check = Check("char_length(btrim(title)) >= 1")
    goals_goal_type_check = Check(
        "goal_type IN ('earnings', 'gigs', 'followers', 'tracks', 'custom')"
    )
    goals_target_value_check = Check("target_value > 0")
    goals_current_value_check = Check("current_value >= 0")
    goals_completed_at_check = Check("completed = (completed_at IS NOT NULL)")
