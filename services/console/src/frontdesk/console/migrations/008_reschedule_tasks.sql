-- Reschedule requests that became staff tasks (the scheduler's appointment.reschedule_task: the patient
-- replied "3" and did not pick a new time on their page within the clinic's window). Ids and times
-- only: no patient. A task is open while its appointment still starts at `starts_at` with no later
-- fact in console_appointments (moved, cancelled, checked in, no-show, completed): derived when read,
-- so the task and the appointment's events may arrive in any order.
CREATE TABLE IF NOT EXISTS console_reschedule_tasks (
    reschedule_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    due_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS console_reschedule_tasks_clinic ON console_reschedule_tasks (clinic_id, starts_at);
