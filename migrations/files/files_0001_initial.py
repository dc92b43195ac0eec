"""Folders, files, storage quotas and pending uploads."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "folders, files, storage_quotas, pending_uploads"

FORWARDS = [
    """
    CREATE TABLE folders (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        parent_folder_id uuid,
        name varchar(255) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT folders_pkey PRIMARY KEY (id),
        -- NULLS NOT DISTINCT: two top-level folders of one artist cannot share a name either
        CONSTRAINT folders_artist_id_parent_folder_id_name_key
            UNIQUE NULLS NOT DISTINCT (artist_id, parent_folder_id, name),
        CONSTRAINT folders_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT folders_parent_folder_id_fkey FOREIGN KEY (parent_folder_id)
            REFERENCES folders (id) ON DELETE CASCADE,
        CONSTRAINT folders_parent_check CHECK (parent_folder_id <> id),
        CONSTRAINT folders_name_check CHECK (char_length(btrim(name)) >= 1 AND strpos(name, '/') = 0)
    )
    """,
    "CREATE INDEX folders_parent_folder_id_idx ON folders (parent_folder_id)",
    """
    CREATE TABLE files (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        folder_id uuid,
        filename varchar(255) NOT NULL,
        s3_key varchar(1024) NOT NULL,
        size_bytes bigint NOT NULL,
        mime_type varchar(100) NOT NULL,
        category varchar(16) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT files_pkey PRIMARY KEY (id),
        CONSTRAINT files_s3_key_key UNIQUE (s3_key),
        CONSTRAINT files_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        -- no cascade: deleting a folder must not silently drop files whose objects stay in S3
        CONSTRAINT files_folder_id_fkey FOREIGN KEY (folder_id) REFERENCES folders (id),
        CONSTRAINT files_filename_check CHECK (char_length(btrim(filename)) >= 1),
        CONSTRAINT files_size_bytes_check CHECK (size_bytes >= 0),
        CONSTRAINT files_category_check CHECK (
            category IN ('press_photo', 'music', 'video', 'document', 'other')
        )
    )
    """,
    # §3.5 list filters: folder and type
    "CREATE INDEX files_artist_id_category_idx ON files (artist_id, category)",
    "CREATE INDEX files_folder_id_idx ON files (folder_id)",
    """
    CREATE TABLE storage_quotas (
        artist_id uuid NOT NULL,
        used_bytes bigint NOT NULL DEFAULT 0,
        -- D-026: 50 GB per artist
        limit_bytes bigint NOT NULL DEFAULT 53687091200,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT storage_quotas_pkey PRIMARY KEY (artist_id),
        CONSTRAINT storage_quotas_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        -- the last line of defence of the atomic quota UPDATE
        CONSTRAINT storage_quotas_used_bytes_check CHECK (used_bytes >= 0 AND used_bytes <= limit_bytes),
        CONSTRAINT storage_quotas_limit_bytes_check CHECK (limit_bytes >= 0)
    )
    """,
    """
    CREATE TABLE pending_uploads (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL,
        purpose varchar(16) NOT NULL,
        s3_key varchar(1024) NOT NULL,
        filename varchar(255),
        declared_mime varchar(100) NOT NULL,
        declared_size bigint NOT NULL,
        folder_id uuid,
        conversation_id uuid,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pending_uploads_pkey PRIMARY KEY (id),
        CONSTRAINT pending_uploads_s3_key_key UNIQUE (s3_key),
        CONSTRAINT pending_uploads_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        -- SET NULL keeps the row, so the cleanup cron still finds and deletes its object
        CONSTRAINT pending_uploads_folder_id_fkey FOREIGN KEY (folder_id)
            REFERENCES folders (id) ON DELETE SET NULL,
        CONSTRAINT pending_uploads_conversation_id_fkey FOREIGN KEY (conversation_id)
            REFERENCES conversations (id) ON DELETE SET NULL,
        CONSTRAINT pending_uploads_purpose_check CHECK (
            purpose IN ('avatar', 'banner', 'track', 'file', 'attachment')
        ),
        CONSTRAINT pending_uploads_declared_size_check CHECK (declared_size > 0),
        CONSTRAINT pending_uploads_folder_check CHECK (folder_id IS NULL OR purpose = 'file'),
        CONSTRAINT pending_uploads_conversation_check CHECK (
            conversation_id IS NULL OR purpose = 'attachment'
        ),
        CONSTRAINT pending_uploads_expiry_check CHECK (expires_at > created_at)
    )
    """,
    "CREATE INDEX pending_uploads_user_id_idx ON pending_uploads (user_id)",
    "CREATE INDEX pending_uploads_folder_id_idx ON pending_uploads (folder_id)",
    "CREATE INDEX pending_uploads_conversation_id_idx ON pending_uploads (conversation_id)",
    # the cleanup cron looks for expired uploads
    "CREATE INDEX pending_uploads_expires_at_idx ON pending_uploads (expires_at)",
]

BACKWARDS = [
    "DROP TABLE pending_uploads",
    "DROP TABLE storage_quotas",
    "DROP TABLE files",
    "DROP TABLE folders",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="files",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
