CREATE TABLE review_requests (
    review_request_id text PRIMARY KEY,
    visit_id          text        NOT NULL UNIQUE,
    patient_id        text        NOT NULL,
    clinic_id         text        NOT NULL,
    provider_id       text        NOT NULL,
    send_at           timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
