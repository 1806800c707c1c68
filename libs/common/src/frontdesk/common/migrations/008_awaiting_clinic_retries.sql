-- A waiting event whose handler fails when its clinic's configuration arrives is retried with backoff
-- (attempts so far, and when the next one is due), then dead-lettered (frontdesk.common.awaiting).
ALTER TABLE awaiting_clinic
    ADD COLUMN attempts integer     NOT NULL DEFAULT 0,
    ADD COLUMN retry_at timestamptz;
