-- The oldest waiting call per clinic (longest current wait), read on every call event.
CREATE INDEX calls_waiting_since ON calls (clinic_id, received_at) WHERE status IN ('ringing', 'with_vendor');
