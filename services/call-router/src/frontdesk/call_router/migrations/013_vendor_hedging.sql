-- Several vendors may hold one call (hedging: the secondary is offered the call too when the primary
-- has not answered by the latest moment the secondary could still answer in time; the first answer
-- wins). A vendor holds a call while it is 'with_vendor' and the vendor is its vendor_id or has
-- 'vendor:<id>' in tried. When the call is answered or abandoned, every other holder is withdrawn
-- (call.withdrawn on its own topic) and recorded here; an answer it reports afterwards is recorded
-- (late_answer_at), never counted as the call's answer.
CREATE TABLE call_withdrawals (
    call_id         text        NOT NULL,
    vendor_id       text        NOT NULL,
    reason          text        NOT NULL,  -- answered_elsewhere | abandoned
    withdrawn_at    timestamptz NOT NULL,
    late_answer_at  timestamptz,
    PRIMARY KEY (call_id, vendor_id)
);

-- A vendor's answer deadline acts while that vendor still holds the call, also after the other
-- vendor was offered it too (before, only while it was the call's latest vendor).
CREATE OR REPLACE FUNCTION call_router_vendor_deadline(
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
    IF NOT FOUND OR o_call.status <> 'with_vendor' OR NOT (
        o_call.vendor_id IS NOT DISTINCT FROM p_vendor_id OR ('vendor:' || p_vendor_id) = ANY(o_call.tried)
    ) THEN
        o_call := NULL;
        RETURN;  -- answered or abandoned meanwhile
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

-- call_router_answer (012) also cancels the call's pending hedge (the secondary not offered yet).
CREATE OR REPLACE FUNCTION call_router_answer(
    p_call_id text, p_clinic_id text, p_answered_at timestamptz, p_kind text, p_by text,
    OUT o_call calls, OUT o_version text, OUT o_oldest timestamptz, OUT o_ended jsonb
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('call-router:' || p_clinic_id));
    SELECT * INTO o_call FROM calls WHERE call_id = p_call_id FOR UPDATE;
    IF NOT FOUND OR o_call.status NOT IN ('ringing', 'with_vendor') THEN
        RETURN;
    END IF;
    UPDATE calls SET status = 'answered', answered_at = p_answered_at, answered_by_kind = p_kind,
        answered_by_id = p_by, ringing = '{}'
    WHERE call_id = p_call_id;
    DELETE FROM timers WHERE timer_key IN (
        'ring:' || p_call_id || ':' || o_call.attempt, 'vendor:' || p_call_id || ':' || o_call.attempt,
        'hedge:' || p_call_id
    );
    UPDATE agents SET ringing_call_id = NULL WHERE clinic_id = p_clinic_id AND ringing_call_id = p_call_id;
    SELECT c.event_id INTO o_version FROM clinics c WHERE c.clinic_id = p_clinic_id;
    -- literal statuses, so the partial index calls_waiting_since applies
    SELECT min(received_at) INTO o_oldest FROM calls
    WHERE clinic_id = p_clinic_id AND status IN ('ringing', 'with_vendor');
    IF p_kind = 'receptionist' THEN
        INSERT INTO agents (clinic_id, receptionist_id, status, status_at, idle_since, calls_taken)
        VALUES (p_clinic_id, p_by, 'busy', p_answered_at, p_answered_at, 1)
        ON CONFLICT (clinic_id, receptionist_id) DO UPDATE SET
            status = 'busy', status_at = GREATEST(agents.status_at, p_answered_at),
            calls_taken = agents.calls_taken + 1;
    END IF;
    IF o_call.caller_token IS NOT NULL AND o_call.caller_token <> '' THEN
        UPDATE callbacks SET closed_at = p_answered_at
        WHERE clinic_id = p_clinic_id AND caller_token = o_call.caller_token AND closed_at IS NULL;
    END IF;
    DELETE FROM early_outcomes WHERE call_id = p_call_id AND event_type = 'call.ended'
    RETURNING payload INTO o_ended;
END
$$;
