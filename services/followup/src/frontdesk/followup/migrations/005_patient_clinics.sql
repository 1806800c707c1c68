-- Which clinics may see a patient over the API: a patient is visible to a clinic that followup holds a
-- link for (a plan, a message, an appointment, a callback, a staff task) or, for patients registered
-- over the API before any of those, the clinics of the token that registered them.
CREATE TABLE patient_clinics (
    patient_id text        NOT NULL,
    clinic_id  text        NOT NULL,
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, clinic_id)
);
-- The other links, looked up by patient.
CREATE INDEX messages_patient ON messages (patient_id);
CREATE INDEX callbacks_patient ON callbacks (patient_id) WHERE patient_id IS NOT NULL;
CREATE INDEX staff_tasks_patient ON staff_tasks (patient_id) WHERE patient_id IS NOT NULL;
-- A clinic's messages sent today (its daily message limit).
CREATE INDEX messages_clinic_sent ON messages (clinic_id, sent_at) WHERE status = 'sent';
