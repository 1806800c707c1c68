-- What each HL7 message said (SHA-256 of its type and the segments after MSH): a control id that comes
-- again with other content is another message reusing it (a sender's counter reset), answered AR rather
-- than given the first one's answer and lost. Rows from before have none and keep answering repeats.
ALTER TABLE hl7_messages ADD COLUMN digest text;
