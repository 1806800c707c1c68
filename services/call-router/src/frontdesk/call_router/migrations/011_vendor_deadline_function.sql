-- The vendor-answer-deadline path (a vendor did not answer in time) in one round trip: the same
-- statements as handlers.on_vendor_answer_deadline's slow path, in the same order, under the same
-- advisory lock. As in call_router_ring_timeout, a configuration version other than the cached one
-- changes nothing (o_stale) and the caller takes the slow path.
CREATE FUNCTION call_router_vendor_deadline(
    p_call_id text, p_clinic_id text, p_vendor_id text, p_version text, p_failed_until timestamptz,
    p_vendor_ids text[],
    OUT o_stale boolean, OUT o_call calls, OUT o_vendors vendor_health[]
) LANGUAGE plpgsql AS $$
DECLARE
    current_version text;
BEGIN
    o_stale := false;
    PERFORM pg_advisory_xact_lock(hashtext('call-router:' || p_clinic_id));
    SELECT * INTO o_call FROM calls WHERE call_id = p_call_id FOR UPDATE;
    IF NOT FOUND OR o_call.status <> 'with_vendor' OR o_call.vendor_id IS DISTINCT FROM p_vendor_id THEN
        o_call := NULL;
        RETURN;  -- answered, abandoned or handed on meanwhile
    END IF;
    SELECT c.event_id INTO current_version FROM clinics c WHERE c.clinic_id = p_clinic_id;
    IF current_version IS DISTINCT FROM p_version THEN
        o_stale := true;
        RETURN;
    END IF;
    INSERT INTO vendor_health (vendor_id, failed_until) VALUES (p_vendor_id, p_failed_until)
    ON CONFLICT (vendor_id) DO UPDATE SET failed_until = GREATEST(vendor_health.failed_until, p_failed_until);
    SELECT array_agg(v) INTO o_vendors FROM vendor_health v WHERE v.vendor_id = ANY(p_vendor_ids);
END
$$;
