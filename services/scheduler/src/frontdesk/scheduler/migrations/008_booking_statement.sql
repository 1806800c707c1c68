-- scheduler_try_insert gave way to scheduler_book (../functions.sql), which also checks the clinic's
-- configuration version and writes the booking's outbox rows and timers: a booking in one round trip.
DROP FUNCTION IF EXISTS scheduler_try_insert(text, text, text, text, text, text, timestamptz, timestamptz,
    timestamptz, timestamptz, text, text, timestamptz, text);
