-- Request counts per (bucket, key) and minute, for rate limits shared by every replica of a service.
-- UNLOGGED: no WAL write per counted request; after a crash the counts start again from zero, which
-- costs at most one minute of budget.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_windows (
    bucket text NOT NULL,
    key text NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (bucket, key, window_start)
);
