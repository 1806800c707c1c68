-- The worklists: what staff must act on, from the events of the services that own each item. Ids,
-- times, reasons and urgencies only: names, numbers and the patients' words stay with the owners.

-- A callback's due time and escalation deadline come from followup (followup.scheduled, kind
-- callback); it is done when followup reports it (callback.completed).
ALTER TABLE console_callbacks ADD COLUMN IF NOT EXISTS due_at TIMESTAMPTZ;
ALTER TABLE console_callbacks ADD COLUMN IF NOT EXISTS escalated_at TIMESTAMPTZ;
ALTER TABLE console_callbacks ADD COLUMN IF NOT EXISTS completed_at TIMESTAMPTZ;
-- A completion or due time may arrive before the request (other topics): rows may start without them.
ALTER TABLE console_callbacks ALTER COLUMN reason DROP NOT NULL;
ALTER TABLE console_callbacks ALTER COLUMN urgency DROP NOT NULL;
ALTER TABLE console_callbacks ALTER COLUMN requested_at DROP NOT NULL;
CREATE INDEX IF NOT EXISTS console_callbacks_open ON console_callbacks (clinic_id, requested_at)
    WHERE completed_at IS NULL;

-- Service-recovery tasks (reviews): opened or re-escalated by review.escalated, closed by
-- review.recovery_closed. The newest escalation's level and deadline count.
CREATE TABLE IF NOT EXISTS console_recovery_tasks (
    recovery_task_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    provider_id TEXT,
    review_request_id TEXT,
    level INT,
    scale TEXT,
    score INT,
    due_at TIMESTAMPTZ,
    escalated_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    within_deadline BOOLEAN
);
CREATE INDEX IF NOT EXISTS console_recovery_open ON console_recovery_tasks (clinic_id, due_at)
    WHERE closed_at IS NULL;

-- Replies and overdue callbacks followup escalated to a person (followup.escalated).
CREATE TABLE IF NOT EXISTS console_followup_tasks (
    task_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    urgency TEXT NOT NULL,
    escalated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS console_followup_tasks_clinic ON console_followup_tasks (clinic_id, escalated_at);

-- Waitlist offers (scheduler): in flight until closed or expired.
CREATE TABLE IF NOT EXISTS console_waitlist_offers (
    offer_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    provider_id TEXT,
    appointment_type TEXT,
    starts_at TIMESTAMPTZ,
    ends_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS console_waitlist_open ON console_waitlist_offers (clinic_id, expires_at)
    WHERE outcome IS NULL;
