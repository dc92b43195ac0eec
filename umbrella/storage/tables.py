"""The tables of the storage domain: each artist's quota and the uploads not confirmed yet."""

from __future__ import annotations

from typing import Any

from piccolo.columns import UUID, BigInt, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.columns.reference import LazyTableReference
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User

UPLOAD_PURPOSES = ("avatar", "banner", "track", "file", "attachment")
DEFAULT_QUOTA_BYTES = 53_687_091_200  # D-026: 50 GB

# Artists, files and messaging store through this domain, so it cannot import their tables:
# its foreign keys name them by module instead (Piccolo resolves them on first use).
_ARTIST = LazyTableReference("Artist", module_path="umbrella.artists.tables")
_FOLDER = LazyTableReference("Folder", module_path="umbrella.files.tables")
_CONVERSATION = LazyTableReference("Conversation", module_path="umbrella.messaging.tables")


class StorageQuota(Table, tablename="storage_quotas"):
    """How many bytes an artist stores, against their limit (D-026)."""

    artist_id: ForeignKey[Any] = ForeignKey(
        references=_ARTIST, on_delete=OnDelete.cascade, null=False, primary_key=True
    )
    used_bytes = BigInt(default=0)
    limit_bytes = BigInt(default=DEFAULT_QUOTA_BYTES)
    updated_at = Timestamptz()

    storage_quotas_used_bytes_check = Check("used_bytes >= 0 AND used_bytes <= limit_bytes")
    storage_quotas_limit_bytes_check = Check("limit_bytes >= 0")


class PendingUpload(Table, tablename="pending_uploads"):
    """A presigned upload not confirmed yet; removed with its objects once expired.

    The browser writes `s3_key` (under `uploads/`); a confirm copies it to `target_key`,
    which no upload form names, and records the copy's size in `sealed_size`.
    """

    id = UUID(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    purpose = Varchar(length=16)
    s3_key = Varchar(length=1024)
    target_key = Varchar(length=1024)
    sealed_size = BigInt(null=True, default=None)
    filename = Varchar(length=255, null=True, default=None)
    declared_mime = Varchar(length=100)
    declared_size = BigInt()
    folder_id: ForeignKey[Any] = ForeignKey(
        references=_FOLDER, on_delete=OnDelete.set_null, null=True, default=None
    )
    conversation_id: ForeignKey[Any] = ForeignKey(
        references=_CONVERSATION, on_delete=OnDelete.set_null, null=True, default=None
    )
    expires_at = Timestamptz()
    created_at = Timestamptz()

    pending_uploads_s3_key_key = Unique(["s3_key"])
    pending_uploads_target_key_key = Unique(["target_key"])
    pending_uploads_sealed_size_check = Check(
        "sealed_size IS NULL OR sealed_size BETWEEN 0 AND declared_size"
    )
    pending_uploads_purpose_check = Check(
        "purpose IN ('avatar', 'banner', 'track', 'file', 'attachment')"
    )
    pending_uploads_declared_size_check = Check("declared_size > 0")
    pending_uploads_folder_check = Check("folder_id IS NULL OR purpose = 'file'")
    pending_uploads_conversation_check = Check("conversation_id IS NULL OR purpose = 'attachment'")
    pending_uploads_expiry_check = Check("expires_at > created_at")
