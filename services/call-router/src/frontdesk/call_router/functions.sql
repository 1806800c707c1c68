-- call-router's SQL functions: their one home. Applied with CREATE OR REPLACE after the migrations at
-- every start (frontdesk.common.db), so edit a function here; a migration only DROPs one whose
-- signature changes or that goes away, and never calls one (on a fresh database it does not exist yet).

-- The call.received hot path in two round trips instead of a dozen (same statements, same order,
-- same advisory lock). call_router_receive: lock the clinic, read its configuration version, store
-- the call (a duplicate call_id returns no call), take an outcome that overtook it, and load what
-- the routing decision needs (presence, vendor health, round-robin cursors). call_router_offer:
-- record an offer (call row, who rings, the pool's cursor) and return the oldest waiting call.
CREATE OR REPLACE FUNCTION call_router_receive(
    p_call_id text, p_clinic_id text, p_received_at timestamptz, p_intent text, p_caller_token text,
    p_language text, p_patient_id text, p_vendor_ids text[],
    OUT o_version text, OUT o_call calls, OUT o_early jsonb, OUT o_refused jsonb,
    OUT o_agents agents[], OUT o_vendors vendor_health[], OUT o_cursors pool_cursors[]
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
    -- an outcome that named another clinic is not this call's: returned apart (o_refused), never
    -- replayed; one per clinic is kept, so it never took the place of the call's own
    WITH taken AS (
        DELETE FROM early_outcomes e
        WHERE e.call_id = p_call_id AND e.event_type IN ('call.answered', 'call.abandoned')
        RETURNING e
    )
    SELECT jsonb_object_agg((t.e).event_type, (t.e).payload) FILTER (WHERE (t.e).clinic_id = p_clinic_id),
           jsonb_agg(to_jsonb(t.e)) FILTER (WHERE (t.e).clinic_id <> p_clinic_id)
    INTO o_early, o_refused FROM taken t;
    IF o_early IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(a) INTO o_agents FROM agents a WHERE a.clinic_id = p_clinic_id;
    SELECT array_agg(v) INTO o_vendors FROM vendor_health v WHERE v.vendor_id = ANY(p_vendor_ids);
    SELECT array_agg(k) INTO o_cursors FROM pool_cursors k WHERE k.clinic_id = p_clinic_id;
END
$$;

CREATE OR REPLACE FUNCTION call_router_offer(
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

-- The ring-timeout path (an offer rang out) in one round trip, under the clinic's advisory lock. The
-- caller passes the configuration version it parsed last and the pools that do not auto-pause; on any
-- other version nothing is changed (o_stale): the caller reads the configuration and calls again.
CREATE OR REPLACE FUNCTION call_router_ring_timeout(
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

-- The vendor-answer-deadline path (a vendor did not answer in time) in one round trip, under the
-- clinic's advisory lock. As in call_router_ring_timeout, a configuration version other than the one
-- the caller parsed last changes nothing (o_stale). A NULL version stands for a clinic not configured
-- (its call went to the network fallback).
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

-- call.answered in one round trip: the statements of handlers.handle_call_answered, in the same order,
-- under the same advisory lock. Nothing is written unless the call is still ringing or with a vendor;
-- o_call is the call as it was before, for the caller's checks (a vendor may answer only a call handed
-- to it: a refusal raises, and the transaction, these writes included, rolls back). Every call is
-- answered once, so on a normal day this runs as often as call_router_receive.
-- It also cancels the call's pending hedge (the secondary not offered yet).
CREATE OR REPLACE FUNCTION call_router_answer(
    p_call_id text, p_clinic_id text, p_answered_at timestamptz, p_kind text, p_by text,
    OUT o_call calls, OUT o_version text, OUT o_oldest timestamptz, OUT o_ended jsonb,
    OUT o_refused jsonb, OUT o_answered_at timestamptz
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('call-router:' || p_clinic_id));
    SELECT * INTO o_call FROM calls WHERE call_id = p_call_id FOR UPDATE;
    -- an answer naming another clinic than the call's changes nothing (the caller refuses it)
    IF NOT FOUND OR o_call.clinic_id <> p_clinic_id OR o_call.status NOT IN ('ringing', 'with_vendor') THEN
        RETURN;
    END IF;
    -- the caller passes the answer no later than it was heard; it is also no earlier than the call's
    -- arrival (service_levels.happened_at), so no wait is negative whatever the producer's clock
    o_answered_at := GREATEST(p_answered_at, o_call.received_at);
    p_answered_at := o_answered_at;
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
        -- busy since the answer, but never since after now: a phone system's clock running ahead
        -- would otherwise outrank the receptionist's real presence changes until that time
        INSERT INTO agents (clinic_id, receptionist_id, status, status_at, idle_since, calls_taken)
        VALUES (p_clinic_id, p_by, 'busy', LEAST(p_answered_at, now()), LEAST(p_answered_at, now()), 1)
        ON CONFLICT (clinic_id, receptionist_id) DO UPDATE SET
            status = 'busy', status_at = GREATEST(agents.status_at, LEAST(p_answered_at, now())),
            calls_taken = agents.calls_taken + 1;
    END IF;
    IF o_call.caller_token IS NOT NULL AND o_call.caller_token <> '' THEN
        UPDATE callbacks SET closed_at = p_answered_at
        WHERE clinic_id = p_clinic_id AND caller_token = o_call.caller_token AND closed_at IS NULL;
    END IF;
    -- a kept call.ended that named another clinic is not the call's: returned apart (o_refused)
    WITH taken AS (
        DELETE FROM early_outcomes e WHERE e.call_id = p_call_id AND e.event_type = 'call.ended' RETURNING e
    )
    SELECT (array_agg((t.e).payload) FILTER (WHERE (t.e).clinic_id = p_clinic_id))[1],
           jsonb_agg(to_jsonb(t.e)) FILTER (WHERE (t.e).clinic_id <> p_clinic_id)
    INTO o_ended, o_refused FROM taken t;
END
$$;
