-- What each clinic's calls add up to per local wall-clock hour (the clinic's own zone; a repeated DST
-- hour holds both of its instants), kept by the projector as the calls' facts arrive (projection.py),
-- so that Network, Now and Trends read a day's (or four weeks') rows instead of the calls. Sums only:
-- a period is the sum of its hours (domain/board.py CallCounts). Waits in whole milliseconds.
CREATE TABLE IF NOT EXISTS console_call_hours (
    clinic_id TEXT NOT NULL,
    local_date DATE NOT NULL,
    local_hour SMALLINT NOT NULL,
    offered INT NOT NULL,
    answered INT NOT NULL,
    answered_within_budget INT NOT NULL,
    wait_ms BIGINT NOT NULL,
    short_abandons INT NOT NULL,
    abandoned INT NOT NULL,
    overflowed INT NOT NULL,
    PRIMARY KEY (clinic_id, local_date, local_hour)
);

-- The calls a read model already holds, summed once here as call_counts() sums them (the projector
-- keeps them from now on): ring budget = ring_seconds x rings, short abandon within 5 s.
INSERT INTO console_call_hours
SELECT c.clinic_id, (c.received_at AT TIME ZONE (k.config->>'timezone'))::date,
    extract(hour FROM c.received_at AT TIME ZONE (k.config->>'timezone'))::smallint,
    count(*),
    count(c.answered_at),
    count(*) FILTER (WHERE extract(epoch FROM c.answered_at - c.received_at)
        <= (k.config->'phone'->>'ring_seconds')::float8 * (k.config->'phone'->>'rings')::float8),
    coalesce(sum(floor(extract(epoch FROM c.answered_at - c.received_at) * 1000)), 0),
    count(*) FILTER (WHERE c.answered_at IS NULL AND extract(epoch FROM c.abandoned_at - c.received_at) <= 5),
    count(c.abandoned_at) FILTER (WHERE c.answered_at IS NULL),
    count(c.overflowed_at)
FROM console_calls c JOIN clinics k ON k.clinic_id = c.clinic_id
WHERE c.received_at IS NOT NULL
GROUP BY 1, 2, 3
ON CONFLICT DO NOTHING;

-- Today's hand-overs on Now, without reading the day's other calls.
CREATE INDEX IF NOT EXISTS console_calls_handed_over ON console_calls (clinic_id, received_at)
    WHERE overflowed_at IS NOT NULL;
