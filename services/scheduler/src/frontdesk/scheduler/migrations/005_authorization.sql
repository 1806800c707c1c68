-- Object-level authorization (issue 8): which clinics may see a patient, and HL7 messages per clinic.

-- A patient is visible to a clinic when this service links them: an appointment, a waitlist entry,
-- or this row, written when a clinic-scoped token creates the patient's contact record.
CREATE TABLE patient_clinics (
    patient_id text        NOT NULL,
    clinic_id  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, clinic_id)
);
CREATE INDEX waitlist_patient ON waitlist (patient_id);

-- HL7 messages belong to the clinic whose endpoint received them, and are deduplicated per clinic:
-- another clinic's sender reusing a control id must not pre-empt (or read the ACK of) this one's.
-- Rows from before this migration have no known clinic ('') and are visible to network-wide tokens only.
ALTER TABLE hl7_messages ADD COLUMN clinic_id text NOT NULL DEFAULT '';
ALTER TABLE hl7_messages ALTER COLUMN clinic_id DROP DEFAULT;
ALTER TABLE hl7_messages DROP CONSTRAINT hl7_messages_pkey;
ALTER TABLE hl7_messages ADD PRIMARY KEY (clinic_id, sending_facility, control_id);
