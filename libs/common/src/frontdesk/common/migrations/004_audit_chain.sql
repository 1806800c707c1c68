-- The audit trail's hash chains: each row stores the hash of the row before it in its chain
-- (prev_hash) and its own, sha256(prev_hash || content), so a row altered, deleted or slipped in
-- afterwards, even by a superuser, breaks its chain (`frontdesk audit verify` recomputes them).
--
-- A trigger owned by the admin fills chain, chain_seq, prev_hash and row_hash. Writers of one chain
-- take turns on its row in audit.chain_head (a row lock held to commit, WAL flush included), so a
-- chain is consistent in chain_seq order and its head names its newest row (deleting that shows too).
-- So that concurrent requests do not all queue behind one lock, a service's rows are spread over 8
-- chains, '<service>/0' .. '<service>/7', by the writing connection's backend; all 8 heads exist from a
-- service's first row on (a chain deleted whole, head and all, shows as a missing head).
-- audit_chain.py is the other half: the same content, recomputed outside the database.
--
-- Like 002, provisioning runs this as the admin first; the service's own run then finds it done.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'audit.log'::regclass AND attname = 'chain_seq') THEN
        RETURN;
    END IF;
    IF NOT (SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'audit.log'::regclass) THEN
        RAISE EXCEPTION 'audit.log has no hash chain yet and this role may not add one'
            USING HINT = 'run the provisioning as the database admin first: python -m frontdesk.common.provision <service>';
    END IF;

    ALTER TABLE audit.log ADD COLUMN chain text, ADD COLUMN chain_seq bigint, ADD COLUMN prev_hash bytea,
        ADD COLUMN row_hash bytea;
    CREATE TABLE audit.chain_head (
        chain    text   PRIMARY KEY,  -- '<service>/<0..7>' 
        seq      bigint NOT NULL,     -- the newest row's chain_seq
        row_hash bytea  NOT NULL      -- and its row_hash
    );

    -- What a row's hash covers: every column but the hashes, each as UTF-8 text with its length in
    -- bytes before it ('-' for NULL), so no two rows share a content. occurred_at in UTC microseconds.
    CREATE FUNCTION audit.content(r audit.log) RETURNS bytea
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
        SELECT convert_to(string_agg(
                   CASE WHEN f IS NULL THEN '-' ELSE octet_length(convert_to(f, 'UTF8'))::text || ':' || f END,
                   '' ORDER BY n), 'UTF8')
        FROM unnest(ARRAY[
            r.chain, r.service, r.chain_seq::text, r.id::text,
            to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            r.subject, r.action, r.method, r.route, r.resource::text, r.clinic_id, r.status::text, r.trace_id
        ]) WITH ORDINALITY AS fields(f, n)
    $fn$;

    CREATE FUNCTION audit.chain_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    DECLARE
        head record;
    BEGIN
        NEW.chain := NEW.service || '/' || (pg_backend_pid() % 8)::text;
        SELECT seq, row_hash INTO head FROM audit.chain_head WHERE chain = NEW.chain FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO audit.chain_head (chain, seq, row_hash)
                SELECT NEW.service || '/' || stripe::text, 0, decode(repeat('00', 32), 'hex')
                FROM generate_series(0, 7) AS stripe
                ON CONFLICT (chain) DO NOTHING;
            SELECT seq, row_hash INTO head FROM audit.chain_head WHERE chain = NEW.chain FOR UPDATE;
        END IF;
        NEW.chain_seq := head.seq + 1;
        NEW.prev_hash := head.row_hash;
        NEW.row_hash := sha256(NEW.prev_hash || audit.content(NEW));
        UPDATE audit.chain_head SET seq = NEW.chain_seq, row_hash = NEW.row_hash WHERE chain = NEW.chain;
        RETURN NEW;
    END
    $fn$;

    -- Rows written before the chains existed join their service's chain 0, oldest first.
    DECLARE
        r audit.log;
        last_seq bigint;
        last_hash bytea;
    BEGIN
        FOR r IN SELECT * FROM audit.log ORDER BY id LOOP
            r.chain := r.service || '/0';
            SELECT seq, row_hash INTO last_seq, last_hash FROM audit.chain_head WHERE chain = r.chain;
            IF NOT FOUND THEN
                INSERT INTO audit.chain_head
                    SELECT r.service || '/' || stripe::text, 0, decode(repeat('00', 32), 'hex')
                    FROM generate_series(0, 7) AS stripe;
                last_seq := 0;
                last_hash := decode(repeat('00', 32), 'hex');
            END IF;
            r.chain_seq := last_seq + 1;
            r.prev_hash := last_hash;
            r.row_hash := sha256(r.prev_hash || audit.content(r));
            UPDATE audit.log SET chain = r.chain, chain_seq = r.chain_seq, prev_hash = r.prev_hash,
                row_hash = r.row_hash WHERE id = r.id;
            UPDATE audit.chain_head SET seq = r.chain_seq, row_hash = r.row_hash WHERE chain = r.chain;
        END LOOP;
    END;

    ALTER TABLE audit.log ALTER COLUMN chain SET NOT NULL, ALTER COLUMN chain_seq SET NOT NULL,
        ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN row_hash SET NOT NULL;
    CREATE UNIQUE INDEX log_chain ON audit.log (chain, chain_seq);
    CREATE TRIGGER chain BEFORE INSERT ON audit.log FOR EACH ROW EXECUTE FUNCTION audit.chain_row();
END $$;
