-- The last presence of each desk the bridge heard of (agent.status_changed, agent.auto_paused), so a
-- restarted bridge rings by it when the router is silent. Written by the consumer, read back into
-- memory at start-up; never read on the call path.
CREATE TABLE IF NOT EXISTS desk_presence (
    clinic_id TEXT NOT NULL,
    receptionist_id TEXT NOT NULL,
    status TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (clinic_id, receptionist_id)
);
