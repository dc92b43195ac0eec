from __future__ import annotations

from piccolo.columns import UUID, BigInt, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User
from umbrella.artists.tables import Artist
from umbrella.messaging.tables import Conversation

FILE_CATEGORIES = ("press_photo", "music", "video", "document", "other")
UPLOAD_PURPOSES = ("avatar", "banner", "track", "file", "attachment")
DEFAULT_QUOTA_BYTES = 53_687_091_200  # D-026: 50 GB


class Folder(Table, tablename="folders"):
    """A folder of an artist's files; folders nest."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    parent_folder_id: ForeignKey[Folder] = ForeignKey(
        references="self", on_delete=OnDelete.cascade, null=True, default=None
    )
    name = Varchar(length=255)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    folders_artist_id_parent_folder_id_name_key = Unique(
        ["artist_id", "parent_folder_id", "name"], nulls_distinct=False
    )
    folders_parent_check = Check("parent_folder_id <> id")
    folders_name_check = Check("char_length(btrim(name)) >= 1 AND strpos(name, '/') = 0")


class File(Table, tablename="files"):
    """The metadata of one confirmed object in the bucket."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    folder_id = ForeignKey(references=Folder, on_delete=OnDelete.no_action, null=True, default=None)
    filename = Varchar(length=255)
    s3_key = Varchar(length=1024)
    size_bytes = BigInt()
    mime_type = Varchar(length=100)
    category = Varchar(length=16)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    files_s3_key_key = Unique(["s3_key"])
    files_filename_check = Check("char_length(btrim(filename)) >= 1")
    files_size_bytes_check = Check("size_bytes >= 0")
    files_category_check = Check(
        "category IN ('press_photo', 'music', 'video', 'document', 'other')"
    )


class StorageQuota(Table, tablename="storage_quotas"):
    """How many bytes an artist stores, against their limit (D-026)."""

    artist_id = ForeignKey(
        references=Artist, on_delete=OnDelete.cascade, null=False, primary_key=True
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
    folder_id = ForeignKey(references=Folder, on_delete=OnDelete.set_null, null=True, default=None)
    conversation_id = ForeignKey(
        references=Conversation, on_delete=OnDelete.set_null, null=True, default=None
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
