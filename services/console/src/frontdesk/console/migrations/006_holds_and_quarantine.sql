-- Holds (scheduler's appointment.held): a slot held for a patient until expires_at. A hold leaves
-- the schedule's list when the appointment has any later fact (booked on confirmation, or
-- cancelled: console_appointments, same id) or when it expires (a lapse carries no event). Ids,
-- provider, type and times only: no patient.
CREATE TABLE IF NOT EXISTS console_holds (
    appointment_id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    appointment_type TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    held_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS console_holds_expiry ON console_holds (clinic_id, expires_at);

-- HL7 v2 messages the scheduler quarantined for staff review (hl7.quarantined): sender, control id,
-- type and reason; the messages themselves stay in the scheduler's database. Nothing releases one.
CREATE TABLE IF NOT EXISTS console_hl7_quarantine (
    clinic_id TEXT NOT NULL,
    sending_facility TEXT NOT NULL,
    control_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (clinic_id, sending_facility, control_id)
);
CREATE INDEX IF NOT EXISTS console_hl7_quarantine_newest ON console_hl7_quarantine (clinic_id, received_at);
