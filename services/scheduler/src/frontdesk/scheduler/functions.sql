-- scheduler's SQL functions: their one home. Applied with CREATE OR REPLACE after the migrations at
-- every start (frontdesk.common.db), so edit a function here; a migration only DROPs one whose
-- signature changes or that goes away, and never calls one (on a fresh database it does not exist yet).

-- A booking in one round trip (booking.book calls it through repository.book). Semantics are those of
-- the Python steps it replaces, in order:
-- * the clinic's configuration that the command was planned with must still be the current one (the
--   service plans with the configuration it cached; 'stale' sends it back to read it again);
-- * a plain read turns clear losers away before they queue;
-- * the per-provider advisory lock orders the writers (no 40P01 deadlocks between concurrent exclusion
--   checks); under the lock, blocks and appointments are checked again;
-- * the insert has ON CONFLICT DO NOTHING, so the exclusion constraint (and the primary key: the same
--   request again) has the last word without a subtransaction; a conflict becomes an answer, not an error;
-- * only if the appointment was inserted, the events and timers that announce it are written: the
--   outbox rows and timers that frontdesk.common.uow.Writes encodes, in the statements its flush uses,
--   and the NOTIFY for an outbox relay that leads in another process (frontdesk.common.outbox).

CREATE OR REPLACE FUNCTION scheduler_first_conflict(p_provider text, p_from timestamptz, p_until timestamptz, p_exclude text)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz, kind text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM (
        SELECT a.starts_at, a.ends_at, 'appointment'::text AS kind FROM appointments a
        WHERE a.provider_id = p_provider
          AND a.status IN ('pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
          AND a.appointment_id IS DISTINCT FROM p_exclude
          AND tstzrange(a.blocked_from, a.blocked_until, '[)') && tstzrange(p_from, p_until, '[)')
        UNION ALL
        SELECT b.starts_at, b.ends_at, 'block'::text FROM provider_blocks b
        WHERE b.provider_id = p_provider AND tstzrange(b.starts_at, b.ends_at, '[)') && tstzrange(p_from, p_until, '[)')
    ) c ORDER BY c.starts_at LIMIT 1
$$;

CREATE OR REPLACE FUNCTION scheduler_book(
    p_clinic_updated timestamptz, p_templates bigint, p_templates_latest timestamptz,
    p_appointment_id text, p_request_id text, p_patient_id text, p_clinic_id text, p_provider_id text,
    p_type text, p_starts timestamptz, p_ends timestamptz, p_from timestamptz, p_until timestamptz,
    p_status text, p_source text, p_hold_expires timestamptz, p_external_id text,
    p_event_ids text[], p_topics text[], p_keys text[], p_headers text[], p_payloads bytea[],
    p_timer_keys text[], p_timer_kinds text[], p_timer_due timestamptz[], p_timer_payloads text[],
    p_traceparent text, p_notify boolean
)
RETURNS TABLE (outcome text, c_starts timestamptz, c_ends timestamptz, c_kind text)
LANGUAGE plpgsql AS $$
DECLARE
    clash record;
BEGIN
    PERFORM FROM clinics c, LATERAL (
        SELECT count(*) AS n, max(t.updated_at) AS latest FROM provider_templates t WHERE t.clinic_id = c.clinic_id
    ) t
    WHERE c.clinic_id = p_clinic_id AND c.updated_at = p_clinic_updated AND t.n = p_templates
      AND t.latest IS NOT DISTINCT FROM p_templates_latest;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'stale'::text, NULL::timestamptz, NULL::timestamptz, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO clash FROM scheduler_first_conflict(p_provider_id, p_from, p_until, NULL);
    IF FOUND THEN
        RETURN QUERY SELECT 'conflict'::text, clash.starts_at, clash.ends_at, clash.kind;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(p_provider_id));
    SELECT * INTO clash FROM scheduler_first_conflict(p_provider_id, p_from, p_until, NULL);
    IF FOUND THEN
        RETURN QUERY SELECT 'conflict'::text, clash.starts_at, clash.ends_at, clash.kind;
        RETURN;
    END IF;
    INSERT INTO appointments (appointment_id, request_id, patient_id, clinic_id, provider_id, appointment_type,
                              starts_at, ends_at, blocked_from, blocked_until, status, source, hold_expires_at,
                              external_id)
    VALUES (p_appointment_id, p_request_id, p_patient_id, p_clinic_id, p_provider_id, p_type, p_starts, p_ends,
            p_from, p_until, p_status, p_source, p_hold_expires, p_external_id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM appointments WHERE appointment_id = p_appointment_id) THEN
            RETURN QUERY SELECT 'duplicate'::text, NULL::timestamptz, NULL::timestamptz, NULL::text;
            RETURN;
        END IF;
        SELECT * INTO clash FROM scheduler_first_conflict(p_provider_id, p_from, p_until, NULL);
        RETURN QUERY SELECT 'conflict'::text, coalesce(clash.starts_at, p_starts), coalesce(clash.ends_at, p_ends),
                            coalesce(clash.kind, 'appointment');
        RETURN;
    END IF;
    IF cardinality(p_event_ids) > 0 THEN
        INSERT INTO outbox (event_id, topic, record_key, headers, payload)
        SELECT e, t, k, h::jsonb, p FROM unnest(p_event_ids, p_topics, p_keys, p_headers, p_payloads)
            WITH ORDINALITY AS r(e, t, k, h, p, o) ORDER BY o;
        IF p_notify THEN
            PERFORM pg_notify('outbox', '');
        END IF;
    END IF;
    IF cardinality(p_timer_keys) > 0 THEN
        INSERT INTO timers (timer_key, kind, due_at, payload, traceparent)
        SELECT k, kd, d, p::jsonb, p_traceparent
        FROM unnest(p_timer_keys, p_timer_kinds, p_timer_due, p_timer_payloads) AS r(k, kd, d, p)
        ON CONFLICT (timer_key) DO UPDATE SET kind = EXCLUDED.kind, due_at = EXCLUDED.due_at,
            payload = EXCLUDED.payload, traceparent = EXCLUDED.traceparent, attempts = 0,
            last_error = NULL, dead_at = NULL;
    END IF;
    RETURN QUERY SELECT 'inserted'::text, NULL::timestamptz, NULL::timestamptz, NULL::text;
END
$$;
