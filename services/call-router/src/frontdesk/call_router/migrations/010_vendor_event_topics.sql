-- Vendors now also have vendor.<id>.events (and its .dlq). Those provisioned before have only
-- vendor.<id>.calls: a vendor_topics timer creates what they miss (ensure_topics is idempotent)
-- while they stay ready, so their calls keep reaching their own topic meanwhile.
INSERT INTO timers (timer_key, kind, due_at, payload)
SELECT 'vendor-topics:events-upgrade', 'vendor_topics', now(), jsonb_build_object('vendor_ids', jsonb_agg(vendor_id))
FROM vendor_topics WHERE ready
HAVING count(*) > 0
ON CONFLICT (timer_key) DO NOTHING;
