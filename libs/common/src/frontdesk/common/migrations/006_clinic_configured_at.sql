-- When the clinic's configuration was made (its clinic.configured event's CloudEvents time): the
-- projection keeps the newest one even when an older record is read after it (frontdesk.common.clinics).
-- NULL for a row projected before: the next configuration replaces it.
ALTER TABLE clinics ADD COLUMN configured_at timestamptz;
