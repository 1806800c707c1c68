-- Today's schedule and the no-show rate: each appointment's facts, from scheduler's events (and
-- visit.completed). Ids and times only: no patient ids, names or visit reasons.
CREATE TABLE IF NOT EXISTS console_appointments (
    appointment_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    provider_id TEXT,
    appointment_type TEXT,
    starts_at TIMESTAMPTZ,
    ends_at TIMESTAMPTZ,
    rescheduled BOOLEAN NOT NULL DEFAULT false,
    cancelled_at TIMESTAMPTZ,
    late_cancel BOOLEAN,
    checked_in_at TIMESTAMPTZ,
    no_show TEXT,  -- no_show | left_without_visit
    completed_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS console_appointments_day ON console_appointments (clinic_id, starts_at);
