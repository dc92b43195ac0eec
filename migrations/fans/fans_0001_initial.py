"""Contact lists and members, broadcasts, their lists and deliveries, suppressions."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:06:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "contact_lists, contact_list_members, broadcast_messages, broadcast_lists,"
    " broadcast_deliveries, fan_suppressions"
)

FORWARDS = [
    """
    CREATE TABLE contact_lists (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        name varchar(100) NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT contact_lists_pkey PRIMARY KEY (id),
        CONSTRAINT contact_lists_artist_id_name_key UNIQUE (artist_id, name),
        CONSTRAINT contact_lists_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT contact_lists_name_check CHECK (char_length(btrim(name)) >= 1)
    )
    """,
    """
    CREATE TABLE contact_list_members (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        list_id uuid NOT NULL,
        email varchar(320),
        phone varchar(16),
        name varchar(200),
        email_opt_in boolean NOT NULL DEFAULT false,
        sms_opt_in boolean NOT NULL DEFAULT false,
        timezone varchar(64),
        city varchar(100),
        -- proof of consent for each channel: when, how and from where it was given
        email_consent_at timestamptz,
        sms_consent_at timestamptz,
        consent_source varchar(16),
        consent_ip inet,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT contact_list_members_pkey PRIMARY KEY (id),
        -- NULLs are distinct, so members without an email (or phone) never collide
        CONSTRAINT contact_list_members_list_id_email_key UNIQUE (list_id, email),
        CONSTRAINT contact_list_members_list_id_phone_key UNIQUE (list_id, phone),
        CONSTRAINT contact_list_members_list_id_fkey FOREIGN KEY (list_id)
            REFERENCES contact_lists (id) ON DELETE CASCADE,
        CONSTRAINT contact_list_members_contact_check CHECK (email IS NOT NULL OR phone IS NOT NULL),
        CONSTRAINT contact_list_members_email_lowercase_check CHECK (email = lower(email)),
        CONSTRAINT contact_list_members_phone_e164_check CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
        CONSTRAINT contact_list_members_email_opt_in_check CHECK (NOT email_opt_in OR email IS NOT NULL),
        CONSTRAINT contact_list_members_sms_opt_in_check CHECK (NOT sms_opt_in OR phone IS NOT NULL),
        CONSTRAINT contact_list_members_consent_source_check CHECK (consent_source IN ('import', 'form'))
    )
    """,
    """
    CREATE TABLE broadcast_messages (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        subject varchar(200),
        -- D-049: text only
        body text NOT NULL,
        channels varchar(8) NOT NULL,
        recipient_count integer NOT NULL DEFAULT 0,
        status varchar(16) NOT NULL DEFAULT 'draft',
        scheduled_at timestamptz,
        started_at timestamptz,
        sent_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT broadcast_messages_pkey PRIMARY KEY (id),
        CONSTRAINT broadcast_messages_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT broadcast_messages_body_check CHECK (char_length(btrim(body)) >= 1),
        CONSTRAINT broadcast_messages_channels_check CHECK (channels IN ('email', 'sms', 'both')),
        CONSTRAINT broadcast_messages_subject_check CHECK (channels = 'sms' OR subject IS NOT NULL),
        CONSTRAINT broadcast_messages_recipient_count_check CHECK (recipient_count >= 0),
        CONSTRAINT broadcast_messages_status_check CHECK (
            status IN ('draft', 'scheduled', 'sending', 'sent', 'cancelled', 'failed')
        ),
        CONSTRAINT broadcast_messages_scheduled_at_check CHECK (
            status <> 'scheduled' OR scheduled_at IS NOT NULL
        ),
        CONSTRAINT broadcast_messages_sent_at_check CHECK (status <> 'sent' OR sent_at IS NOT NULL)
    )
    """,
    "CREATE INDEX broadcast_messages_artist_id_created_at_idx ON broadcast_messages (artist_id, created_at DESC)",
    # the scheduled-broadcasts cron only ever looks at scheduled rows
    "CREATE INDEX broadcast_messages_scheduled_at_idx ON broadcast_messages (scheduled_at) WHERE status = 'scheduled'",
    """
    CREATE TABLE broadcast_lists (
        broadcast_id uuid NOT NULL,
        list_id uuid NOT NULL,
        CONSTRAINT broadcast_lists_pkey PRIMARY KEY (broadcast_id, list_id),
        CONSTRAINT broadcast_lists_broadcast_id_fkey FOREIGN KEY (broadcast_id)
            REFERENCES broadcast_messages (id) ON DELETE CASCADE,
        CONSTRAINT broadcast_lists_list_id_fkey FOREIGN KEY (list_id)
            REFERENCES contact_lists (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX broadcast_lists_list_id_idx ON broadcast_lists (list_id)",
    """
    CREATE TABLE broadcast_deliveries (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        broadcast_id uuid NOT NULL,
        member_id uuid,
        channel varchar(8) NOT NULL,
        address varchar(320) NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        provider_message_id varchar(255),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        CONSTRAINT broadcast_deliveries_pkey PRIMARY KEY (id),
        -- one delivery row per recipient and channel: a resumed send never sends twice,
        -- even when one address is in several of the broadcast's lists
        CONSTRAINT broadcast_deliveries_broadcast_id_member_id_channel_key
            UNIQUE (broadcast_id, member_id, channel),
        CONSTRAINT broadcast_deliveries_broadcast_id_channel_address_key
            UNIQUE (broadcast_id, channel, address),
        CONSTRAINT broadcast_deliveries_broadcast_id_fkey FOREIGN KEY (broadcast_id)
            REFERENCES broadcast_messages (id) ON DELETE CASCADE,
        CONSTRAINT broadcast_deliveries_member_id_fkey FOREIGN KEY (member_id)
            REFERENCES contact_list_members (id) ON DELETE SET NULL,
        CONSTRAINT broadcast_deliveries_channel_check CHECK (channel IN ('email', 'sms')),
        CONSTRAINT broadcast_deliveries_status_check CHECK (
            status IN ('pending', 'sending', 'sent', 'failed', 'skipped')
        ),
        CONSTRAINT broadcast_deliveries_attempts_check CHECK (attempts >= 0),
        CONSTRAINT broadcast_deliveries_sent_at_check CHECK (status <> 'sent' OR sent_at IS NOT NULL)
    )
    """,
    "CREATE INDEX broadcast_deliveries_broadcast_id_status_idx ON broadcast_deliveries (broadcast_id, status)",
    "CREATE INDEX broadcast_deliveries_member_id_idx ON broadcast_deliveries (member_id)",
    """
    CREATE TABLE fan_suppressions (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        channel varchar(8) NOT NULL,
        address varchar(320) NOT NULL,
        reason varchar(16) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT fan_suppressions_pkey PRIMARY KEY (id),
        CONSTRAINT fan_suppressions_artist_id_channel_address_key UNIQUE (artist_id, channel, address),
        CONSTRAINT fan_suppressions_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT fan_suppressions_channel_check CHECK (channel IN ('email', 'sms')),
        CONSTRAINT fan_suppressions_reason_check CHECK (
            reason IN ('unsubscribe', 'stop', 'bounce', 'complaint')
        )
    )
    """,
]

BACKWARDS = [
    "DROP TABLE fan_suppressions",
    "DROP TABLE broadcast_deliveries",
    "DROP TABLE broadcast_lists",
    "DROP TABLE broadcast_messages",
    "DROP TABLE contact_list_members",
    "DROP TABLE contact_lists",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="fans",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
