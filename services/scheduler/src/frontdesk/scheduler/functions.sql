-- scheduler's SQL functions: their one home. Applied with CREATE OR REPLACE after the migrations at
-- every start (frontdesk.common.db), so edit a function here; a migration only DROPs one whose
-- signature changes or that goes away, and never calls one (on a fresh database it does not exist yet).

-- The booking hot path in one round trip. Semantics are those of the Python steps they replace:
-- a plain read turns clear losers away before they queue; the per-provider advisory lock orders the
-- writers (no 40P01 deadlocks between concurrent exclusion checks); under the lock, blocks and
-- appointments are checked again; the insert runs in a subtransaction (the EXCEPTION block), where
-- the exclusion constraint has the last word and a violation becomes an answer, not an error.

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

CREATE OR REPLACE FUNCTION scheduler_try_insert(
    p_appointment_id text, p_request_id text, p_patient_id text, p_clinic_id text, p_provider_id text,
    p_type text, p_starts timestamptz, p_ends timestamptz, p_from timestamptz, p_until timestamptz,
    p_status text, p_source text, p_hold_expires timestamptz, p_external_id text
)
RETURNS TABLE (outcome text, c_starts timestamptz, c_ends timestamptz, c_kind text)
LANGUAGE plpgsql AS $$
DECLARE
    clash record;
BEGIN
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
    BEGIN
        INSERT INTO appointments (appointment_id, request_id, patient_id, clinic_id, provider_id, appointment_type,
                                  starts_at, ends_at, blocked_from, blocked_until, status, source, hold_expires_at,
                                  external_id)
        VALUES (p_appointment_id, p_request_id, p_patient_id, p_clinic_id, p_provider_id, p_type, p_starts, p_ends,
                p_from, p_until, p_status, p_source, p_hold_expires, p_external_id);
    EXCEPTION
        WHEN exclusion_violation THEN
            SELECT * INTO clash FROM scheduler_first_conflict(p_provider_id, p_from, p_until, NULL);
            RETURN QUERY SELECT 'conflict'::text, coalesce(clash.starts_at, p_starts), coalesce(clash.ends_at, p_ends),
                                coalesce(clash.kind, 'appointment');
            RETURN;
        WHEN unique_violation THEN
            RETURN QUERY SELECT 'duplicate'::text, NULL::timestamptz, NULL::timestamptz, NULL::text;
            RETURN;
    END;
    RETURN QUERY SELECT 'inserted'::text, NULL::timestamptz, NULL::timestamptz, NULL::text;
END
$$;
