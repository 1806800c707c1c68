-- One kept outcome per call (or message), event type, and the clinic and vendor it names: before, the
-- first outcome of a type took the slot, so one naming the wrong clinic (or a vendor acknowledging
-- another vendor's message) that overtook the genuine one had it dropped. Which one is the call's is
-- decided when the call arrives. vendor_id is '' for the phone system's outcomes.
ALTER TABLE early_outcomes
    ADD COLUMN clinic_id text NOT NULL DEFAULT '',
    ADD COLUMN vendor_id text NOT NULL DEFAULT '';
UPDATE early_outcomes SET clinic_id = coalesce(payload ->> 'clinic_id', ''),
    vendor_id = CASE WHEN event_type = 'answering.page_acknowledged' THEN coalesce(payload ->> 'vendor_id', '') ELSE '' END;
ALTER TABLE early_outcomes ALTER COLUMN clinic_id DROP DEFAULT, ALTER COLUMN vendor_id DROP DEFAULT;
ALTER TABLE early_outcomes DROP CONSTRAINT early_outcomes_pkey,
    ADD PRIMARY KEY (call_id, event_type, clinic_id, vendor_id);

-- New OUT parameters: the kept outcomes that named another clinic (o_refused), and the answer as
-- recorded (o_answered_at).
DROP FUNCTION IF EXISTS call_router_receive(text, text, timestamptz, text, text, text, text, text[]);
DROP FUNCTION IF EXISTS call_router_answer(text, text, timestamptz, text, text);
