-- Contact details live only here: never on a topic, never in a log.
CREATE TABLE contacts (
    patient_id        text PRIMARY KEY,
    phone             text,
    email             text,
    timezone          text,
    state             text,
    preferred_channel text        NOT NULL DEFAULT 'sms' CHECK (preferred_channel IN ('sms', 'email')),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_phone ON contacts (phone) WHERE phone IS NOT NULL;

-- The consent ledger: append-only; the latest entry per patient and purpose decides.
CREATE TABLE consent_ledger (
    id          bigserial PRIMARY KEY,
    patient_id  text        NOT NULL,
    purpose     text        NOT NULL CHECK (purpose IN ('treatment', 'feedback', 'marketing')),
    opted_in    boolean     NOT NULL,
    source      text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX consent_ledger_patient ON consent_ledger (patient_id, purpose, recorded_at);

-- Every message followup was asked to send (by another service or by its own plans): the outbox of
-- sends. The idempotency key goes to the provider, so a send repeated after a crash is delivered once.
CREATE TABLE messages (
    message_request_id  text PRIMARY KEY,
    requested_by        text        NOT NULL,
    patient_id          text        NOT NULL,
    clinic_id           text        NOT NULL,
    purpose             text        NOT NULL,
    template            text        NOT NULL,
    variables           jsonb       NOT NULL DEFAULT '{}',
    not_before          timestamptz,
    expires_at          timestamptz,
    followup_id         text,
    status              text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'skipped', 'failed', 'cancelled')),
    idempotency_key     text        NOT NULL UNIQUE,
    timer_key           text,
    timer_seq           integer     NOT NULL DEFAULT 0,
    attempts            integer     NOT NULL DEFAULT 0,
    channel             text,
    provider_message_id text,
    reason              text,
    detail              text,
    next_at             timestamptz,
    sent_at             timestamptz,
    finished_at         timestamptz,
    receipt_status      text,
    receipt_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_patient_sent ON messages (patient_id, purpose, sent_at) WHERE status = 'sent';
CREATE INDEX messages_followup ON messages (followup_id) WHERE followup_id IS NOT NULL;
CREATE INDEX messages_provider ON messages (provider_message_id) WHERE provider_message_id IS NOT NULL;

-- The local sink channel (make run, tests): plays the SMS/email provider. It is written on its own
-- connection, outside followup's transactions, exactly as a remote provider would be.
CREATE TABLE sink_calls (
    id              bigserial PRIMARY KEY,
    idempotency_key text        NOT NULL,
    called_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sink_deliveries (
    idempotency_key     text PRIMARY KEY,
    provider_message_id text        NOT NULL UNIQUE,
    channel             text        NOT NULL,
    address             text        NOT NULL,
    subject             text,
    body                text        NOT NULL,
    delivered_at        timestamptz NOT NULL DEFAULT now()
);
