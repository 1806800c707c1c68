-- Messages answering-service vendors take (codes and ids only, never the words), their on-call
-- paging and the routine morning digest. Every row of a clinic is written under its advisory lock.
CREATE TABLE vendor_messages (
    message_id       text PRIMARY KEY,
    clinic_id        text        NOT NULL,
    vendor_id        text        NOT NULL,
    call_id          text,
    caller_token     text        NOT NULL,
    patient_id       text,
    urgency          text        NOT NULL,  -- routine | urgent
    category         text        NOT NULL,
    callback_needed  boolean     NOT NULL,
    taken_at         timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    status           text        NOT NULL,  -- paging | acknowledged (urgent); pending | delivered | acknowledged (routine)
    -- urgent: the paging run
    paging_started_at  timestamptz,
    pages_requested    integer     NOT NULL DEFAULT 0,
    pages_sent         integer     NOT NULL DEFAULT 0,
    last_page_id       text,
    page_timer_key     text,
    -- routine: the digest it belongs to
    digest_id        text,
    delivered_at     timestamptz,
    -- acknowledgement (provider for urgent, staff for routine)
    acknowledged_at  timestamptz,
    acknowledged_by  text
);
CREATE INDEX vendor_messages_digest ON vendor_messages (digest_id) WHERE digest_id IS NOT NULL;
CREATE INDEX vendor_messages_clinic ON vendor_messages (clinic_id, taken_at);

CREATE TABLE message_digests (
    digest_id    text PRIMARY KEY,
    clinic_id    text        NOT NULL,
    due_at       timestamptz NOT NULL,
    released_at  timestamptz
);
CREATE INDEX message_digests_open ON message_digests (clinic_id) WHERE released_at IS NULL;
