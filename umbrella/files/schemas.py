"""Request and response models of the file manager: uploads, files, folders and the quota."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from umbrella.storage.uploads import MediaKind, UploadRequestIn, UploadTicketOut

Category = Literal["press_photo", "music", "video", "document", "other"]
# What a file is by its type; `category` is what the artist says it is for.
FileType = MediaKind
# The checked type of a stored file: one of the accepted types (`uploads.MEDIA_TYPES`).
MimeType = Literal[
    "image/jpeg",
    "image/png",
    "image/heic",
    "audio/mpeg",
    "audio/wav",
    "audio/flac",
    "video/mp4",
    "video/quicktime",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
]


def _place(value: Any) -> Any:
    # Parsed here, so a bad value is one error on the parameter itself, not one per union arm.
    if value is None or isinstance(value, UUID) or value == "root":
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError("give a folder's id, or root for the top level") from None


# Where to look: a folder, `root` (the top level), or None (everywhere).
Place: TypeAlias = Annotated[
    UUID | Literal["root"] | None,
    BeforeValidator(_place),
    # OpenAPI 3.0 has no `const`, which pydantic would write for the literal.
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "enum": ["root"]}]}
    ),
]


def _plain_name(value: str) -> str:
    # A name is shown in a tree and sent as a download name: no path separator, no
    # invisible control characters that would make two names look alike.
    if "/" in value:
        raise ValueError("a name cannot contain '/'")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("a name cannot contain control characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_plain_name),
]


class FileUploadIn(UploadRequestIn):
    """Ask for an upload of one file into a folder of yours (or the top level)."""

    filename: Name = Field(description="The name the file manager shows, 1 to 255 characters.")
    folder_id: UUID | None = Field(default=None, description="Your folder; null: the top level.")


class FileUploadOut(UploadTicketOut):
    """The upload ticket, and the id the file will have once confirmed."""

    file_id: UUID = Field(description="The id the file will have.")


class FileConfirmIn(BaseModel):
    """Confirm an upload once the browser has POSTed the file to the store."""

    model_config = ConfigDict(extra="forbid")

    upload_id: UUID
    category: Category | None = Field(
        default=None,
        description="Defaults from the type: image press_photo, audio music, video video, "
        "PDF and DOCX document.",
    )


class FileMoveIn(BaseModel):
    """Move (`folder_id`, null for the top level) and/or rename (`filename`) a file."""

    model_config = ConfigDict(extra="forbid")

    folder_id: UUID | None = None
    filename: Name | None = None


class FolderCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    parent_folder_id: UUID | None = Field(default=None, description="Null: the top level.")


class FolderUpdateIn(BaseModel):
    """Rename (`name`) and/or move (`parent_folder_id`, null for the top level) a folder."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    parent_folder_id: UUID | None = None


class FileOut(BaseModel):
    id: UUID
    folder_id: UUID | None = Field(description="Null: the top level.")
    filename: str
    mime_type: MimeType = Field(description="The type its content was checked to be.")
    type: FileType
    category: Category
    size_bytes: int
    created_at: datetime
    updated_at: datetime


class FileDetailOut(FileOut):
    download_url: str = Field(
        description="Saves the file (or, asked with `disposition=inline`, shows it in the "
        "browser), valid for one hour."
    )
    download_expires_at: datetime


class FolderOut(BaseModel):
    id: UUID
    name: str
    parent_folder_id: UUID | None = Field(description="Null: a top-level folder.")
    file_count: int = Field(description="Files directly in this folder.")
    folder_count: int = Field(description="Folders directly in this folder.")
    size_bytes: int = Field(description="Bytes of the files directly in this folder.")
    created_at: datetime
    updated_at: datetime


class CategoryBytes(BaseModel):
    press_photo: int
    music: int
    video: int
    document: int
    other: int


class StorageUsageOut(BaseModel):
    """Storage against the 50 GB quota (D-026)."""

    used_bytes: int = Field(description="Everything counted against the quota.")
    limit_bytes: int
    free_bytes: int
    used_percent: float = Field(description="used_bytes of limit_bytes, 0 to 100, two decimals.")
    file_count: int
    by_category: CategoryBytes = Field(description="Bytes of the file manager's files.")
    other_bytes: int = Field(
        description="Counted against the quota outside the file manager (portfolio audio)."
    )


class DeletedOut(BaseModel):
    deleted: bool
