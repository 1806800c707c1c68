-- A booking code followup could not text (booking.code_failed): the attempt becomes `undelivered`, its
-- hold is released, and the page says why (docs/patient-loops.md, "When the code cannot be sent").
ALTER TABLE booking_verifications ADD COLUMN code_failure text;
