-- Events that arrived before their clinic's configuration, kept until it arrives and then handled
-- (frontdesk.common.awaiting). The event as the consumer decoded it: type, source, id, time, data.
CREATE TABLE awaiting_clinic (
    seq           bigserial   PRIMARY KEY,
    clinic_id     text        NOT NULL,
    event_type    text        NOT NULL,
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    event_time    timestamptz NOT NULL,
    traceparent   text        NOT NULL,
    topic         text,
    data          jsonb       NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_source, event_id)
);
CREATE INDEX awaiting_clinic_by_clinic ON awaiting_clinic (clinic_id, seq);
