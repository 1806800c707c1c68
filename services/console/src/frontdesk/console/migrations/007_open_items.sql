-- Each clinic's open worklist items (the Network's column), kept by the projector as callbacks and
-- recovery tasks open and close (projection.py), so that Network reads one row per clinic instead of
-- counting the open items at each render. Open: a callback asked for and not done; a recovery task
-- opened and not closed (adapters/summaries.py, the same conditions).
CREATE TABLE IF NOT EXISTS console_open_items (
    clinic_id TEXT PRIMARY KEY,
    callbacks INT NOT NULL,
    recovery_tasks INT NOT NULL
);

-- What a read model already holds, counted once here (the projector keeps the counts from now on).
INSERT INTO console_open_items (clinic_id, callbacks, recovery_tasks)
SELECT clinic_id, count(*) FILTER (WHERE kind = 'c'), count(*) FILTER (WHERE kind = 't')
FROM (
    SELECT clinic_id, 'c' AS kind FROM console_callbacks WHERE requested_at IS NOT NULL AND completed_at IS NULL
    UNION ALL
    SELECT clinic_id, 't' FROM console_recovery_tasks WHERE due_at IS NOT NULL AND closed_at IS NULL
) AS items
GROUP BY clinic_id
ON CONFLICT DO NOTHING;
