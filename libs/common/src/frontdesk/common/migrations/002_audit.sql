-- The audit trail: one row per API request (libs/common audit.py writes it).
--
-- Provisioning (frontdesk.common.provision) runs this same file as the database admin first, so in a
-- provisioned database the schema and table belong to the admin and the application's role may only
-- read and insert; the service's own run then finds the table and does nothing. Without provisioning
-- the service creates it itself (and warns at start-up that it could rewrite it).
-- Catalog lookups, not IF NOT EXISTS: those check the CREATE privilege on the schema before they look.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'audit') THEN
        CREATE SCHEMA audit;
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'audit' AND c.relname = 'log'
    ) THEN
        CREATE TABLE audit.log (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            service     text        NOT NULL,
            subject     text        NOT NULL,  -- token subject, or 'anonymous' / 'signed-link' on public routes
            action      text        NOT NULL,  -- 'read' | 'change'
            method      text        NOT NULL,
            route       text        NOT NULL,  -- path template, e.g. /v1/appointments/{appointment_id}
            resource    jsonb       NOT NULL DEFAULT '{}',  -- the path parameters (ids only)
            clinic_id   text,
            status      smallint    NOT NULL,
            trace_id    text
        );
        CREATE INDEX log_occurred_at ON audit.log (occurred_at);
    END IF;
END $$;
