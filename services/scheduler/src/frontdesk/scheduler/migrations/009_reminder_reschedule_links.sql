-- A reminder's link to the reschedule page (issue #20: "the equivalent link in reminders"): a request of
-- kind 'reminder', open from the first reminder until the appointment starts, one per appointment and
-- start (the later reminders carry the same link). Unlike a "3" reply's request (kind 'reply') it has
-- no window and never becomes a staff task: the patient did not ask to move. Any change to the
-- appointment (moved by anyone, cancelled) closes the open requests of both kinds.
ALTER TABLE reschedule_requests ADD COLUMN kind text NOT NULL DEFAULT 'reply';  -- reply, reminder
DROP INDEX reschedule_requests_one_open;
CREATE UNIQUE INDEX reschedule_requests_one_open ON reschedule_requests (appointment_id, kind) WHERE status = 'open';
