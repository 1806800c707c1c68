ALTER TABLE followups
    ADD COLUMN appointment_id text,
    ADD COLUMN callback_id    text,
    ADD COLUMN reason         text,
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();
CREATE INDEX followups_appointment ON followups (appointment_id) WHERE appointment_id IS NOT NULL;

-- followup's own view of appointments: recall suppression, stale reminders, reply routing.
CREATE TABLE appointments (
    appointment_id text PRIMARY KEY,
    patient_id     text        NOT NULL,
    clinic_id      text        NOT NULL,
    provider_id    text        NOT NULL,
    starts_at      timestamptz NOT NULL,
    status         text        NOT NULL DEFAULT 'booked',
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appointments_patient ON appointments (patient_id, starts_at);

-- Callback worklist for staff.
CREATE TABLE callbacks (
    callback_id   text PRIMARY KEY,
    clinic_id     text        NOT NULL,
    caller_token  text        NOT NULL,
    patient_id    text,
    reason        text        NOT NULL,
    urgency       text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    escalate_at   timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    escalated_at  timestamptz,
    completed_at  timestamptz,
    completed_by  text
);
CREATE INDEX callbacks_open ON callbacks (clinic_id, due_at) WHERE status = 'open';

-- Staff tasks opened by replies (clinical concerns, unrecognised replies). The text stays here.
CREATE TABLE staff_tasks (
    task_id     text PRIMARY KEY,
    clinic_id   text        NOT NULL,
    patient_id  text,
    kind        text        NOT NULL,
    urgency     text        NOT NULL,
    body        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'open',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Signed webhooks seen recently: a replayed (same signature) request is acknowledged, not re-applied.
CREATE TABLE webhook_seen (
    signature   text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
