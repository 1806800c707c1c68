-- Shared plumbing tables, one copy in each service's own database.

-- Transactional outbox: rows written in the same transaction as the state change they announce;
-- the relay publishes them in id order and deletes them once Kafka has acknowledged.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    text        NOT NULL UNIQUE,
    topic       text        NOT NULL,
    record_key  text        NOT NULL,
    headers     jsonb       NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Inbox: one row per consumed event, inserted in the same transaction as the event's side effects.
-- CloudEvents: source + id identify an event.
CREATE TABLE inbox (
    consumer      text        NOT NULL,
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_source, event_id)
);
CREATE INDEX inbox_processed_at ON inbox (processed_at);

-- Durable timers: everything that must happen later. Claimed with SKIP LOCKED, deleted in the
-- transaction that does the work, so a crash or a second replica never loses or doubles one.
CREATE TABLE timers (
    id          bigserial   PRIMARY KEY,
    timer_key   text        NOT NULL UNIQUE,
    kind        text        NOT NULL,
    due_at      timestamptz NOT NULL,
    payload     jsonb       NOT NULL DEFAULT '{}',
    traceparent text,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    dead_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timers_due ON timers (due_at) WHERE dead_at IS NULL;

-- The clinic directory projection, built from the compacted clinic.configured topic.
CREATE TABLE clinics (
    clinic_id   text        PRIMARY KEY,
    config      jsonb       NOT NULL,
    event_id    text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
