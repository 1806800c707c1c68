-- Review requests get a lifecycle: scheduled -> requested (message.requested sent to followup)
-- -> sent (message.sent) | skipped (ours or followup's reason). One row per completed visit.
ALTER TABLE review_requests
    ADD COLUMN visit_type         text,
    ADD COLUMN completed_at       timestamptz,
    ADD COLUMN status             text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'requested', 'sent', 'skipped')),
    ADD COLUMN skip_reason        text,
    ADD COLUMN decided_by         text,
    ADD COLUMN delivery_reason    text,
    ADD COLUMN message_request_id text UNIQUE,
    ADD COLUMN scale              text,
    ADD COLUMN review_sites       text[] NOT NULL DEFAULT '{}',
    ADD COLUMN requested_at       timestamptz,
    ADD COLUMN channel            text,
    ADD COLUMN sent_at            timestamptz,
    ADD COLUMN decided_at         timestamptz;
CREATE INDEX review_requests_patient ON review_requests (patient_id, send_at);
CREATE INDEX review_requests_clinic_sent ON review_requests (clinic_id, sent_at) WHERE status = 'sent';

-- Requests recorded by the walking skeleton had no send timer: give them one, so none is left out.
INSERT INTO timers (timer_key, kind, due_at, payload)
SELECT 'review-send:' || review_request_id, 'review.send', send_at,
       jsonb_build_object('review_request_id', review_request_id)
FROM review_requests
ON CONFLICT (timer_key) DO NOTHING;

-- The feedback-purpose consent view, from contact.preference_changed (latest word per channel; '*' = all).
CREATE TABLE contact_preferences (
    patient_id  text        NOT NULL,
    channel     text        NOT NULL,
    opted_in    boolean     NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (patient_id, channel)
);

-- Feedback links: a random token id (no patient data); single use (used_at), revocable.
CREATE TABLE feedback_links (
    token_id          text        PRIMARY KEY,
    review_request_id text        NOT NULL UNIQUE REFERENCES review_requests,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    used_at           timestamptz,
    revoked_at        timestamptz
);

-- The private answer: the comment stays here (it may hold clinical text); events carry has_comment.
CREATE TABLE feedback_responses (
    review_request_id text        PRIMARY KEY REFERENCES review_requests,
    scale             text        NOT NULL CHECK (scale IN ('stars', 'nps')),
    score             integer     NOT NULL CHECK (score BETWEEN 0 AND 10),
    comment           text,
    received_at       timestamptz NOT NULL
);

CREATE TABLE recovery_tasks (
    recovery_task_id  text        PRIMARY KEY,
    review_request_id text        NOT NULL UNIQUE REFERENCES review_requests,
    clinic_id         text        NOT NULL,
    provider_id       text        NOT NULL,
    opened_at         timestamptz NOT NULL,
    first_due_at      timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    armed_at          timestamptz NOT NULL,
    level             integer     NOT NULL DEFAULT 1,
    last_touched_at   timestamptz,
    closed_at         timestamptz,
    closed_by         text
);
CREATE INDEX recovery_tasks_open ON recovery_tasks (clinic_id, due_at) WHERE closed_at IS NULL;

CREATE TABLE recovery_notes (
    id               bigserial   PRIMARY KEY,
    recovery_task_id text        NOT NULL REFERENCES recovery_tasks,
    author           text        NOT NULL,
    note             text        NOT NULL,
    closes           boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- reputation.summary events published by the weekly job: once per clinic and week.
CREATE TABLE reputation_published (
    clinic_id    text        NOT NULL,
    week         text        NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clinic_id, week)
);
INSERT INTO timers (timer_key, kind, due_at, payload)
VALUES ('reputation-weekly:start', 'reputation.weekly', now(), '{}')
ON CONFLICT (timer_key) DO NOTHING;
