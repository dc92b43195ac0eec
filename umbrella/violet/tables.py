from piccolo.columns import UUID, Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.constraints import Check
from piccolo.table import Table

from umbrella.artists.tables import Artist

USAGE_STATUSES = ("reserved", "succeeded")


class VioletUsage(Table, tablename="violet_usage"):
    """One Violet prompt: the UTC day it counts against (D-062), its feature and token counts.

    A row is `reserved` before the model is called and `succeeded` once it answered; a failed
    call deletes its row, so only prompts that were (or are being) answered count.
    """

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    usage_date = Date()
    feature = Varchar(length=32)
    prompt = Text()
    prompt_tokens = Integer(null=True, default=None)
    response_tokens = Integer(null=True, default=None)
    created_at = Timestamptz()
    status = Varchar(length=16, default="reserved")
    model = Varchar(length=100, null=True, default=None)

    violet_usage_prompt_tokens_check = Check("prompt_tokens >= 0")
    violet_usage_response_tokens_check = Check("response_tokens >= 0")
    violet_usage_status_check = Check("status IN ('reserved', 'succeeded')")
