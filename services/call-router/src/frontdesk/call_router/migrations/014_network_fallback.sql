-- The network-wide settings (network.configured, compacted): today the fallback for calls whose
-- clinic the router has no configuration for. event_id versions the cached parse, as for clinics.
CREATE TABLE network_config (
    network_id  text PRIMARY KEY,
    config      jsonb       NOT NULL,
    event_id    text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- A call for an unknown clinic when no fallback is configured either is stored with status
-- 'unrouted' (nobody was offered it; never blocks the partition) and routed when its clinic's
-- configuration arrives, if the caller has not hung up by then.
CREATE INDEX calls_unrouted ON calls (clinic_id) WHERE status = 'unrouted';
