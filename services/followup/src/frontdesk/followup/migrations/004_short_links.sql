-- Short links that stand in for long ones in an SMS (GET /l/{code} redirects).
CREATE TABLE short_links (
    code       text PRIMARY KEY,
    url        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
