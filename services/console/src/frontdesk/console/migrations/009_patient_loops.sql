-- The patient loops' report (domain/patient_loops.py): when each waitlist offer went out and closed
-- (the events' CloudEvents time) and the appointment an accepted one booked; and the moves patients
-- made on their reschedule page (appointment.rescheduled with handled_by). Ids and times only: no patient.
ALTER TABLE console_waitlist_offers ADD COLUMN IF NOT EXISTS offered_at TIMESTAMPTZ;
ALTER TABLE console_waitlist_offers ADD COLUMN IF NOT EXISTS closed_at TIMESTAMPTZ;
ALTER TABLE console_waitlist_offers ADD COLUMN IF NOT EXISTS appointment_id TEXT;
CREATE INDEX IF NOT EXISTS console_waitlist_slots ON console_waitlist_offers (clinic_id, starts_at);

CREATE TABLE IF NOT EXISTS console_self_reschedules (
    appointment_id TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,  -- the new start: one row per move
    clinic_id TEXT NOT NULL,
    handled_by TEXT NOT NULL,  -- patient | reminder_link
    moved_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (appointment_id, starts_at)
);
CREATE INDEX IF NOT EXISTS console_self_reschedules_clinic ON console_self_reschedules (clinic_id, moved_at);
CREATE INDEX IF NOT EXISTS console_reschedule_tasks_opened ON console_reschedule_tasks (clinic_id, opened_at);
