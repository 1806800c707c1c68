-- Weekly availability templates set over HTTP; they replace the template from clinic.configured for
-- that provider until deleted.
CREATE TABLE provider_templates (
    clinic_id    text        NOT NULL,
    provider_id  text        NOT NULL,
    availability jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (clinic_id, provider_id)
);
