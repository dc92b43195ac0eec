"""The tables of the files domain: an artist's folders and the files in them."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.artists.tables import Artist

FILE_CATEGORIES = ("press_photo", "music", "video", "document", "other")


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
