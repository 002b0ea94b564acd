-- InboxChat reference schema, MySQL 8 / MariaDB 10.5+.
--
-- The same tables, columns, keys and constraints as the PostgreSQL schema.
-- *_enc columns hold keyring envelopes (AES-256-GCM), *_bidx columns a
-- 32-byte HMAC-SHA256 blind index (VARBINARY with a length check, because
-- BINARY(32) would silently pad a short value). Times are UTC in DATETIME(6).
-- DDL commits implicitly on MySQL, so every statement is re-runnable
-- (IF NOT EXISTS, indexes inline) and an interrupted migration is run again.
-- Foreign keys have no ON DELETE CASCADE: erasure deletes children before
-- parents in the order of the data map.

-- App accounts.
CREATE TABLE IF NOT EXISTS users (
    id                      BIGINT        NOT NULL AUTO_INCREMENT,
    email_enc               VARBINARY(1024) NOT NULL,
    email_bidx              VARBINARY(32) NOT NULL,
    name_enc                VARBINARY(1024),
    password_hash           VARCHAR(255),
    policy_version_accepted VARCHAR(64),
    policy_accepted_at      DATETIME(6),
    notify_email            BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at              DATETIME(6)   NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    deleted_at              DATETIME(6),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    -- Lookup by e-mail goes through the blind index.
    CONSTRAINT users_email_bidx_key UNIQUE KEY (email_bidx),
    CONSTRAINT users_email_bidx_len CHECK (OCTET_LENGTH(email_bidx) = 32),
    CONSTRAINT users_policy_accepted CHECK ((policy_version_accepted IS NULL) = (policy_accepted_at IS NULL))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Messenger contacts of a Page.
CREATE TABLE IF NOT EXISTS leads (
    id              BIGINT        NOT NULL AUTO_INCREMENT,
    page_id         VARCHAR(64)   NOT NULL,
    psid_enc        VARBINARY(512) NOT NULL,
    psid_bidx       VARBINARY(32) NOT NULL,
    first_name_enc  VARBINARY(1024),
    last_name_enc   VARBINARY(1024),
    opted_in_at     DATETIME(6),
    opt_in_source   VARCHAR(64),
    last_inbound_at DATETIME(6),
    unsubscribed_at DATETIME(6),
    unreachable_at  DATETIME(6),
    created_at      DATETIME(6)   NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    CONSTRAINT leads_pkey PRIMARY KEY (id),
    -- One lead per PSID and Page; psid_bidx leads so that erasure by PSID
    -- (without a Page) uses the same index.
    CONSTRAINT leads_psid_bidx_page_id_key UNIQUE KEY (psid_bidx, page_id),
    -- Broadcast audience, keyset pages: WHERE page_id = ? AND id > ? ORDER BY id.
    KEY leads_page_id_id_idx (page_id, id),
    CONSTRAINT leads_psid_bidx_len CHECK (OCTET_LENGTH(psid_bidx) = 32),
    -- An opt-in is only proof with its source.
    CONSTRAINT leads_opt_in_source CHECK (opted_in_at IS NULL OR opt_in_source IS NOT NULL)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Lead tags: a join table, so audience filters are index lookups.
CREATE TABLE IF NOT EXISTS lead_tags (
    lead_id BIGINT      NOT NULL,
    tag     VARCHAR(64) NOT NULL,
    CONSTRAINT lead_tags_pkey PRIMARY KEY (lead_id, tag),
    -- Audience by tag: WHERE tag IN (...) AND lead_id > ? ORDER BY lead_id.
    KEY lead_tags_tag_lead_id_idx (tag, lead_id),
    CONSTRAINT lead_tags_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id),
    CONSTRAINT lead_tags_tag_not_empty CHECK (tag <> '')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Conversation history.
CREATE TABLE IF NOT EXISTS messages (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    lead_id    BIGINT      NOT NULL,
    direction  VARCHAR(8)  NOT NULL,
    text_enc   BLOB,
    created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    -- A lead's history, keyset pages; erasure of a lead.
    KEY messages_lead_id_id_idx (lead_id, id),
    CONSTRAINT messages_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id),
    CONSTRAINT messages_direction CHECK (direction IN ('inbound', 'outbound'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Login time and IP, kept for security only and pruned after
-- retention.securityLogs. user_id has no foreign key: rows are retained
-- (for the retention period) after their account is erased.
CREATE TABLE IF NOT EXISTS security_log (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    user_id    BIGINT,
    ip_enc     VARBINARY(255),
    event      VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    CONSTRAINT security_log_pkey PRIMARY KEY (id),
    -- A user's log, keyset pages; erasure and export of a user.
    KEY security_log_user_id_id_idx (user_id, id),
    -- Pruning: DELETE ... WHERE created_at < ?.
    KEY security_log_created_at_idx (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Broadcast ledger: one row per broadcast and lead, written as 'intent'
-- before the send and completed after, so a restarted worker never sends twice.
CREATE TABLE IF NOT EXISTS broadcast_deliveries (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    broadcast    VARCHAR(253) NOT NULL,
    lead_id      BIGINT       NOT NULL,
    state        VARCHAR(8)   NOT NULL,
    message_id   VARCHAR(255),
    error_code   VARCHAR(64),
    skip_reason  VARCHAR(32),
    attempted_at DATETIME(6)  NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    completed_at DATETIME(6),
    CONSTRAINT broadcast_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT broadcast_deliveries_broadcast_lead_id_key UNIQUE KEY (broadcast, lead_id),
    -- Erasure of a lead.
    KEY broadcast_deliveries_lead_id_idx (lead_id),
    -- Status counters: SELECT state, skip_reason, COUNT(*) ... WHERE broadcast = ? GROUP BY 1, 2.
    KEY broadcast_deliveries_broadcast_state_idx (broadcast, state, skip_reason),
    CONSTRAINT broadcast_deliveries_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id),
    CONSTRAINT broadcast_deliveries_state CHECK (state IN ('intent', 'sent', 'failed', 'skipped')),
    CONSTRAINT broadcast_deliveries_skip_reason CHECK ((state = 'skipped') = (skip_reason IS NOT NULL))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Policy notification ledger: one e-mail per policy version and user.
CREATE TABLE IF NOT EXISTS policy_notifications (
    id           BIGINT      NOT NULL AUTO_INCREMENT,
    version      VARCHAR(64) NOT NULL,
    user_id      BIGINT      NOT NULL,
    state        VARCHAR(8)  NOT NULL,
    error_code   VARCHAR(64),
    attempted_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    sent_at      DATETIME(6),
    CONSTRAINT policy_notifications_pkey PRIMARY KEY (id),
    CONSTRAINT policy_notifications_version_user_id_key UNIQUE KEY (version, user_id),
    -- Erasure of a user.
    KEY policy_notifications_user_id_idx (user_id),
    -- Status counters: SELECT state, COUNT(*) ... WHERE version = ? GROUP BY 1.
    KEY policy_notifications_version_state_idx (version, state),
    CONSTRAINT policy_notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT policy_notifications_state CHECK (state IN ('intent', 'sent', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Erasure progress, one row per request, store and step. Holds no personal
-- data: the request is the ErasureRequest's UID, never the subject.
CREATE TABLE IF NOT EXISTS erasure_ledger (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    request         VARCHAR(64)  NOT NULL,
    store           VARCHAR(63)  NOT NULL,
    step            VARCHAR(128) NOT NULL,
    state           VARCHAR(8)   NOT NULL,
    erased_count    BIGINT       NOT NULL DEFAULT 0,
    retained_count  BIGINT       NOT NULL DEFAULT 0,
    remaining_count BIGINT       NOT NULL DEFAULT 0,
    retained_reason VARCHAR(255),
    error_code      VARCHAR(64),
    updated_at      DATETIME(6)  NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    CONSTRAINT erasure_ledger_pkey PRIMARY KEY (id),
    CONSTRAINT erasure_ledger_request_store_step_key UNIQUE KEY (request, store, step),
    CONSTRAINT erasure_ledger_state CHECK (state IN ('started', 'done', 'failed')),
    CONSTRAINT erasure_ledger_counts CHECK (erased_count >= 0 AND retained_count >= 0 AND remaining_count >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Legal holds: while a hold is active (held_until NULL or in the future),
-- erasure retains the subject's data and reports the hold's reason.
CREATE TABLE IF NOT EXISTS legal_holds (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    subject_kind VARCHAR(16)  NOT NULL,
    subject_id   BIGINT       NOT NULL,
    reason       VARCHAR(255) NOT NULL,
    held_until   DATETIME(6),
    created_at   DATETIME(6)  NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    CONSTRAINT legal_holds_pkey PRIMARY KEY (id),
    -- Erasure checks: WHERE subject_kind = ? AND subject_id = ?.
    KEY legal_holds_subject_idx (subject_kind, subject_id),
    CONSTRAINT legal_holds_subject_kind CHECK (subject_kind IN ('User', 'Lead')),
    CONSTRAINT legal_holds_reason_not_empty CHECK (reason <> '')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Upload metadata. The files live on the tenant's volume under
-- users/<user_id>/ or leads/<lead_id>/; path is relative to the volume root.
CREATE TABLE IF NOT EXISTS uploads (
    id           BIGINT        NOT NULL AUTO_INCREMENT,
    user_id      BIGINT,
    lead_id      BIGINT,
    path         VARCHAR(1024) NOT NULL,
    content_type VARCHAR(255),
    size_bytes   BIGINT        NOT NULL,
    sha256       VARBINARY(32),
    created_at   DATETIME(6)   NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    CONSTRAINT uploads_pkey PRIMARY KEY (id),
    -- A user's or a lead's uploads, keyset pages; erasure.
    KEY uploads_user_id_id_idx (user_id, id),
    KEY uploads_lead_id_id_idx (lead_id, id),
    CONSTRAINT uploads_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT uploads_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id),
    CONSTRAINT uploads_one_owner CHECK ((user_id IS NULL) <> (lead_id IS NULL)),
    CONSTRAINT uploads_size CHECK (size_bytes >= 0),
    CONSTRAINT uploads_sha256_len CHECK (sha256 IS NULL OR OCTET_LENGTH(sha256) = 32)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
