CREATE TABLE followups (
    followup_id  text PRIMARY KEY,
    kind         text        NOT NULL,
    visit_id     text,
    patient_id   text        NOT NULL,
    clinic_id    text        NOT NULL,
    due_at       timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'scheduled',
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, visit_id)
);
CREATE INDEX followups_patient ON followups (patient_id);
