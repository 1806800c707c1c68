-- A patient's request to move an appointment (a "3" reply): open while the patient may pick a new time
-- on their page, then moved (by the patient), staff (a staff task) or closed (the appointment changed
-- otherwise: cancelled, moved by staff). One open request per appointment.
CREATE TABLE reschedule_requests (
    reschedule_id  text PRIMARY KEY,
    appointment_id text        NOT NULL,
    clinic_id      text        NOT NULL,
    patient_id     text        NOT NULL,
    provider_id    text        NOT NULL,
    status         text        NOT NULL DEFAULT 'open',  -- open, moved, staff, closed
    expires_at     timestamptz NOT NULL,
    due_at         timestamptz,  -- the staff task's deadline
    new_starts_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz
);
CREATE UNIQUE INDEX reschedule_requests_one_open ON reschedule_requests (appointment_id) WHERE status = 'open';
