-- The console's read model, built only from events (nothing is read from another service's tables).
-- Events of one call travel on different topics, so they may arrive in any order: every handler
-- writes only its own columns, keeps the first value it saw, and the call's state is derived from
-- which columns are set. No names or phone numbers: the events carry none, and none is stored.

CREATE TABLE IF NOT EXISTS console_calls (
    call_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    received_at TIMESTAMPTZ,
    intent TEXT,
    offered_at TIMESTAMPTZ,
    offered_kind TEXT,
    offered_to TEXT,
    vendor_id TEXT,
    overflowed_at TIMESTAMPTZ,
    vendor_answer_by TIMESTAMPTZ,
    answered_at TIMESTAMPTZ,
    answered_by_kind TEXT,
    answered_by_id TEXT,
    abandoned_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS console_calls_clinic_received ON console_calls (clinic_id, received_at);
-- The calls still in progress (the Now screen's list) without scanning the day's history.
CREATE INDEX IF NOT EXISTS console_calls_open ON console_calls (clinic_id)
    WHERE ended_at IS NULL AND abandoned_at IS NULL;

CREATE TABLE IF NOT EXISTS console_agents (
    clinic_id TEXT NOT NULL,
    receptionist_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    changed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (clinic_id, receptionist_id)
);

CREATE TABLE IF NOT EXISTS console_callbacks (
    callback_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    urgency TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS console_callbacks_clinic ON console_callbacks (clinic_id, requested_at);

-- Per clinic: a version bumped by every event (live pages push when it moves) and when the last
-- event arrived (pages show it, so staff see staleness when the producers are down).
CREATE TABLE IF NOT EXISTS console_activity (
    clinic_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0,
    last_event_at TIMESTAMPTZ NOT NULL
);
