-- Outcomes (answered, abandoned, ended) travel on other topics than call.received, so one can be
-- handled before its call is known. It waits here and is applied when the call arrives.
CREATE TABLE early_outcomes (
    call_id     text        NOT NULL,
    event_type  text        NOT NULL,
    payload     jsonb       NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, event_type)
);
