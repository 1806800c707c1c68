-- Routing state: a call's progress through its chain, presence, round-robin cursors, vendor
-- health and open callbacks. Every row of a clinic is written under that clinic's advisory lock.
ALTER TABLE calls
    ADD COLUMN caller_token     text,
    ADD COLUMN language         text,
    ADD COLUMN patient_id       text,
    ADD COLUMN status           text        NOT NULL DEFAULT 'ringing',  -- ringing | with_vendor | answered | abandoned | ended
    ADD COLUMN attempt          integer     NOT NULL DEFAULT 1,
    ADD COLUMN tried            text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN offer_keys       text[]      NOT NULL DEFAULT '{}',  -- joins `tried` when the offer is missed
    ADD COLUMN ringing          text[]      NOT NULL DEFAULT '{}',  -- receptionists ringing now
    ADD COLUMN offer_pool       text,
    ADD COLUMN vendor_id        text,
    ADD COLUMN overflowed_at    timestamptz,
    ADD COLUMN after_hours      boolean     NOT NULL DEFAULT false,
    ADD COLUMN missed_offers    integer     NOT NULL DEFAULT 0,
    ADD COLUMN answered_at      timestamptz,
    ADD COLUMN answered_by_kind text,
    ADD COLUMN answered_by_id   text,
    ADD COLUMN abandoned_at     timestamptz,
    ADD COLUMN ended_at         timestamptz;
CREATE INDEX calls_waiting ON calls (clinic_id) WHERE status IN ('ringing', 'with_vendor');

CREATE TABLE agents (
    clinic_id        text        NOT NULL,
    receptionist_id  text        NOT NULL,
    status           text        NOT NULL,
    status_at        timestamptz NOT NULL,
    idle_since       timestamptz NOT NULL,
    calls_taken      integer     NOT NULL DEFAULT 0,
    ringing_call_id  text,
    PRIMARY KEY (clinic_id, receptionist_id)
);

CREATE TABLE pool_cursors (
    clinic_id    text NOT NULL,
    pool_id      text NOT NULL,
    last_member  text NOT NULL,
    PRIMARY KEY (clinic_id, pool_id)
);

CREATE TABLE vendor_health (
    vendor_id          text PRIMARY KEY,
    last_heartbeat_at  timestamptz,
    failed_until       timestamptz
);

CREATE TABLE callbacks (
    callback_id   text        PRIMARY KEY,
    clinic_id     text        NOT NULL,
    caller_token  text        NOT NULL,
    call_id       text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    closed_at     timestamptz
);
-- At most one open callback per caller and clinic: the dedupe.
CREATE UNIQUE INDEX callbacks_open ON callbacks (clinic_id, caller_token) WHERE closed_at IS NULL;
