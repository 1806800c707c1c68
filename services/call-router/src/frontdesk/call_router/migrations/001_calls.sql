CREATE TABLE calls (
    call_id      text PRIMARY KEY,
    clinic_id    text        NOT NULL,
    received_at  timestamptz NOT NULL,
    intent       text        NOT NULL,
    target_kind  text        NOT NULL,
    target_id    text        NOT NULL,
    reason       text        NOT NULL,
    answer_by    timestamptz NOT NULL,
    routed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_clinic_received ON calls (clinic_id, received_at);
