-- The HL7 error an AE or AR named (table 0357 code, and the field: "SCH-2"), so that a resent message
-- gets the same ERR segment as its first copy. NULL for messages answered before.
ALTER TABLE hl7_messages ADD COLUMN error_code integer;
ALTER TABLE hl7_messages ADD COLUMN error_location text;
