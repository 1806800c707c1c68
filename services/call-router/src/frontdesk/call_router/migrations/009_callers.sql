-- Callers' numbers, registered by the telephony integration under the call's caller_token so that a
-- vendor handed the call can call back (PUT /v1/clinics/{clinic_id}/callers/{caller_token}). Never in
-- clear: `sealed` is a SealedField (kid, nonce, ciphertext) under the router's own key, bound to the
-- clinic and token. A row is used only until expires_at; a durable timer per expiry day deletes it.
CREATE TABLE callers (
    clinic_id     text        NOT NULL,
    caller_token  text        NOT NULL,
    sealed        jsonb       NOT NULL,
    registered_at timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (clinic_id, caller_token)
);
CREATE INDEX callers_expires_at ON callers (expires_at);
