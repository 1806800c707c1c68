-- The ring-timeout path (an offer rang out) in one round trip: the same statements as
-- handlers.on_ring_timeout's slow path, in the same order, under the same advisory lock. The caller
-- passes the configuration version it has cached and the pools that do not auto-pause; on any other
-- version nothing is changed (o_stale) and the caller takes the slow path.
CREATE FUNCTION call_router_ring_timeout(
    p_call_id text, p_clinic_id text, p_attempt integer, p_version text, p_no_autopause text[],
    p_now timestamptz, p_vendor_ids text[],
    OUT o_stale boolean, OUT o_call calls, OUT o_paused text[], OUT o_agents agents[],
    OUT o_vendors vendor_health[], OUT o_cursors pool_cursors[]
) LANGUAGE plpgsql AS $$
DECLARE
    current_version text;
BEGIN
    o_stale := false;
    PERFORM pg_advisory_xact_lock(hashtext('call-router:' || p_clinic_id));
    SELECT * INTO o_call FROM calls WHERE call_id = p_call_id FOR UPDATE;
    IF NOT FOUND OR o_call.status <> 'ringing' OR o_call.attempt <> p_attempt THEN
        o_call := NULL;
        RETURN;  -- answered, abandoned or moved on meanwhile
    END IF;
    SELECT c.event_id INTO current_version FROM clinics c WHERE c.clinic_id = p_clinic_id;
    IF current_version IS DISTINCT FROM p_version THEN
        o_stale := true;
        RETURN;
    END IF;
    UPDATE agents SET ringing_call_id = NULL WHERE clinic_id = p_clinic_id AND ringing_call_id = p_call_id;
    UPDATE calls SET missed_offers = missed_offers + greatest(cardinality(o_call.ringing), 1)
    WHERE call_id = p_call_id;
    o_paused := '{}';
    IF cardinality(o_call.ringing) > 0
       AND (o_call.offer_pool IS NULL OR NOT (o_call.offer_pool = ANY(p_no_autopause))) THEN
        UPDATE agents SET status = 'paused', status_at = GREATEST(status_at, p_now)
        WHERE clinic_id = p_clinic_id AND receptionist_id = ANY(o_call.ringing);
        o_paused := o_call.ringing;
    END IF;
    SELECT array_agg(a) INTO o_agents FROM agents a WHERE a.clinic_id = p_clinic_id;
    SELECT array_agg(v) INTO o_vendors FROM vendor_health v WHERE v.vendor_id = ANY(p_vendor_ids);
    SELECT array_agg(k) INTO o_cursors FROM pool_cursors k WHERE k.clinic_id = p_clinic_id;
END
$$;
