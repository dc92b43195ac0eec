"""HTTP handlers of the file manager: thin, one service call each."""

from __future__ import annotations

from typing import ClassVar, TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409, r413

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.core.storage import Disposition, Storage
from umbrella.files import folders, service
from umbrella.files.schemas import (
    Category,
    DeletedOut,
    FileConfirmIn,
    FileDetailOut,
    FileMoveIn,
    FileOut,
    FileType,
    FileUploadIn,
    FileUploadOut,
    FolderCreateIn,
    FolderOut,
    FolderUpdateIn,
    Place,
    StorageUsageOut,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.ratelimit import UPLOAD_URLS
from umbrella.web.views import ApiView

ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]
)


class _FilesView(ApiView):
    @property
    def storage(self) -> Storage:
        storage: Storage = self.request.config_dict[keys.STORAGE]
        return storage


class FileUploadView(_FilesView):
    rate_limits: ClassVar[tuple[str, ...]] = (UPLOAD_URLS,)

    async def post(
        self, body: FileUploadIn
    ) -> r201[envelope_of(FileUploadOut)] | ERRORS | r413[ErrorEnvelope]:
        """Presigned POST (15 minutes) for one image, audio, video, PDF or DOCX file within quota.

        Tags: files
        """
        ticket = await service.create_file_upload(
            storage=self.storage,
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
            filename=body.filename,
            folder_id=body.folder_id,
        )
        return ok(self.request, ticket, status=201)


class UsageView(_FilesView):
    async def get(
        self,
    ) -> (
        r200[envelope_of(StorageUsageOut)]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Storage used against the 50 GB quota (D-026), with the bytes of each category.

        Tags: files
        """
        usage = await service.get_usage(caller=self.caller)
        return ok(self.request, usage)


class FoldersView(_FilesView):
    async def get(
        self,
        /,
        parent_folder_id: Place = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(FolderOut))] | ERRORS:
        """Your folders by name, flat with their parent ids and counts.

        `parent_folder_id` lists one level: a folder's id, or `root` for the top level.

        Tags: files
        """
        page = await folders.list_folders(
            settings=self.settings,
            caller=self.caller,
            parent_folder_id=parent_folder_id,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)

    async def post(
        self, body: FolderCreateIn
    ) -> r201[envelope_of(FolderOut)] | ERRORS | r409[ErrorEnvelope]:
        """Make a folder at the top level or inside one of yours (names unique among siblings).

        Tags: files
        """
        folder = await folders.create_folder(
            caller=self.caller,
            name=body.name,
            parent_folder_id=body.parent_folder_id,
        )
        return ok(self.request, folder, status=201)


class FolderView(_FilesView):
    async def put(
        self, folder_id: UUID, /, body: FolderUpdateIn
    ) -> r200[envelope_of(FolderOut)] | ERRORS | r409[ErrorEnvelope]:
        """Rename and/or move a folder (`parent_folder_id` null: the top level).

        Tags: files
        """
        folder = await folders.update_folder(
            caller=self.caller,
            folder_id=folder_id,
            changes=body.model_dump(include=body.model_fields_set),
        )
        return ok(self.request, folder)

    async def delete(
        self, folder_id: UUID, /
    ) -> r200[envelope_of(DeletedOut)] | ERRORS | r409[ErrorEnvelope]:
        """Delete an empty folder (no files, no folders in it).

        Tags: files
        """
        await folders.delete_folder(caller=self.caller, folder_id=folder_id)
        return ok(self.request, DeletedOut(deleted=True))


class FilesView(_FilesView):
    async def get(
        self,
        /,
        folder_id: Place = None,
        category: Category | None = None,
        type: FileType | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(FileOut))] | ERRORS:
        """Your files, newest first; `folder_id` a folder's id or `root` for the top level.

        Tags: files
        """
        page = await service.list_files(
            settings=self.settings,
            caller=self.caller,
            folder_id=folder_id,
            category=category,
            file_type=type,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)

    async def post(
        self, body: FileConfirmIn
    ) -> (
        r201[envelope_of(FileDetailOut)]
        | r200[envelope_of(FileDetailOut)]
        | ERRORS
        | r413[ErrorEnvelope]
    ):
        """Confirm an upload: its bytes are checked, then it is counted against the quota.

        201 with the new file; 200 with the same file when this upload was confirmed already
        (a retry after a lost answer is safe).

        Tags: files
        """
        detail, created = await service.create_file(
            storage=self.storage,
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
            upload_id=body.upload_id,
            category=body.category,
        )
        return ok(self.request, detail, status=201 if created else 200)


class FileView(_FilesView):
    async def get(
        self, file_id: UUID, /, disposition: Disposition = "attachment"
    ) -> r200[envelope_of(FileDetailOut)] | ERRORS:
        """One of your files, with a link valid for one hour in `download_url`.

        `disposition=attachment` (the default): the link saves the file. `inline`: it shows
        the file in the browser (a tab, an `<iframe>`, a `<video>`), for images, audio,
        video and PDF only; another type is 400, field `disposition`.

        Tags: files
        """
        found = await service.get_file(
            storage=self.storage,
            caller=self.caller,
            file_id=file_id,
            disposition=disposition,
        )
        return ok(self.request, found)

    async def delete(self, file_id: UUID, /) -> r200[envelope_of(DeletedOut)] | ERRORS:
        """Delete a file: its storage is given back at once, its object right after.

        Tags: files
        """
        await service.delete_file(
            storage=self.storage,
            caller=self.caller,
            file_id=file_id,
        )
        return ok(self.request, DeletedOut(deleted=True))


class FileMoveView(_FilesView):
    async def put(
        self, file_id: UUID, /, body: FileMoveIn
    ) -> r200[envelope_of(FileDetailOut)] | ERRORS:
        """Move a file (`folder_id`, null: the top level) and/or rename it (`filename`).

        Tags: files
        """
        moved = await service.update_file(
            storage=self.storage,
            caller=self.caller,
            file_id=file_id,
            changes=body.model_dump(include=body.model_fields_set),
        )
        return ok(self.request, moved)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    # The fixed paths come before /v1/files/{file_id}, which would otherwise take them.
    return [
        web.view("/v1/files/upload", FileUploadView),
        web.view("/v1/files/usage", UsageView),
        web.view("/v1/files/folders", FoldersView),
        web.view("/v1/files/folders/{folder_id}", FolderView),
        web.view("/v1/files", FilesView),
        web.view("/v1/files/{file_id}", FileView),
        web.view("/v1/files/{file_id}/move", FileMoveView),
    ]
