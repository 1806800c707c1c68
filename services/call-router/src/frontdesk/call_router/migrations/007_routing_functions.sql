-- The call.received hot path in two round trips instead of a dozen (same statements, same order,
-- same advisory lock). call_router_receive: lock the clinic, read its configuration version, store
-- the call (a duplicate call_id returns no call), take an outcome that overtook it, and load what
-- the routing decision needs (presence, vendor health, round-robin cursors). call_router_offer:
-- record an offer (call row, who rings, the pool's cursor) and return the oldest waiting call.
CREATE FUNCTION call_router_receive(
    p_call_id text, p_clinic_id text, p_received_at timestamptz, p_intent text, p_caller_token text,
    p_language text, p_patient_id text, p_vendor_ids text[],
    OUT o_version text, OUT o_call calls, OUT o_early jsonb, OUT o_agents agents[],
    OUT o_vendors vendor_health[], OUT o_cursors pool_cursors[]
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('call-router:' || p_clinic_id));
    SELECT c.event_id INTO o_version FROM clinics c WHERE c.clinic_id = p_clinic_id;
    IF o_version IS NULL THEN
        RETURN;  -- unknown clinic: the caller raises (and the transaction rolls back)
    END IF;
    INSERT INTO calls (call_id, clinic_id, received_at, intent, caller_token, language, patient_id,
                       target_kind, target_id, reason, answer_by, attempt, status)
    VALUES (p_call_id, p_clinic_id, p_received_at, p_intent, p_caller_token, p_language, p_patient_id,
            '', '', 'received', p_received_at, 0, 'ringing')
    ON CONFLICT (call_id) DO NOTHING
    RETURNING * INTO o_call;
    IF NOT FOUND THEN
        o_call := NULL;
        RETURN;  -- a duplicate
    END IF;
    WITH taken AS (
        DELETE FROM early_outcomes e
        WHERE e.call_id = p_call_id AND e.event_type IN ('call.answered', 'call.abandoned')
        RETURNING e.event_type, e.payload
    )
    SELECT jsonb_object_agg(t.event_type, t.payload) INTO o_early FROM taken t;
    IF o_early IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(a) INTO o_agents FROM agents a WHERE a.clinic_id = p_clinic_id;
    SELECT array_agg(v) INTO o_vendors FROM vendor_health v WHERE v.vendor_id = ANY(p_vendor_ids);
    SELECT array_agg(k) INTO o_cursors FROM pool_cursors k WHERE k.clinic_id = p_clinic_id;
END
$$;

CREATE FUNCTION call_router_offer(
    p_call_id text, p_clinic_id text, p_target_kind text, p_target_id text, p_reason text,
    p_answer_by timestamptz, p_attempt integer, p_tried text[], p_offer_keys text[], p_ringing text[],
    p_offer_pool text, p_cursor_pool text, p_cursor_member text
) RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
BEGIN
    UPDATE calls SET target_kind = p_target_kind, target_id = p_target_id, reason = p_reason,
        answer_by = p_answer_by, attempt = p_attempt, tried = p_tried, offer_keys = p_offer_keys,
        ringing = p_ringing, offer_pool = p_offer_pool, status = 'ringing', routed_at = now()
    WHERE call_id = p_call_id;
    IF cardinality(p_ringing) > 0 THEN
        UPDATE agents SET ringing_call_id = p_call_id
        WHERE clinic_id = p_clinic_id AND receptionist_id = ANY(p_ringing);
    END IF;
    IF p_cursor_pool IS NOT NULL THEN
        INSERT INTO pool_cursors VALUES (p_clinic_id, p_cursor_pool, p_cursor_member)
        ON CONFLICT (clinic_id, pool_id) DO UPDATE SET last_member = EXCLUDED.last_member;
    END IF;
    -- literal statuses, so the partial index calls_waiting_since applies
    SELECT min(received_at) INTO oldest FROM calls
    WHERE clinic_id = p_clinic_id AND status IN ('ringing', 'with_vendor');
    RETURN oldest;
END
$$;
