-- call.answered in one round trip: the statements of handlers.handle_call_answered, in the same order,
-- under the same advisory lock. Nothing is written unless the call is still ringing or with a vendor;
-- o_call is the call as it was before, for the caller's checks (a vendor may answer only a call handed
-- to it: a refusal raises, and the transaction, these writes included, rolls back). Every call is
-- answered once, so on a normal day this runs as often as call_router_receive.
CREATE FUNCTION call_router_answer(
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
        'ring:' || p_call_id || ':' || o_call.attempt, 'vendor:' || p_call_id || ':' || o_call.attempt
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
