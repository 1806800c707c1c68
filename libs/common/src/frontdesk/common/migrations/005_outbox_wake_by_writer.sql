-- The outbox no longer NOTIFYs from a trigger on every insert: the writer wakes its relay itself when
-- the relay leads in its own process, and NOTIFYs only when it does not (frontdesk.common.outbox).
DROP TRIGGER IF EXISTS outbox_inserted ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
