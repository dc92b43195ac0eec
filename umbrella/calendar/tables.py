from piccolo.columns import UUID, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User


class CalendarFeed(Table, tablename="calendar_feeds"):
    """A user's calendar subscription link; only the SHA-256 of its token is stored."""

    id = UUID(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    token_hash = Varchar(length=64)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)

    calendar_feeds_user_id_key = Unique(["user_id"])
    calendar_feeds_token_hash_key = Unique(["token_hash"])
    calendar_feeds_token_hash_check = Check("token_hash ~ '^[0-9a-f]{64}$'")
