-- Trends: the newest Erlang C staffing forecast per clinic (call-router's staffing.forecast) and the
-- weekly reputation figures per clinic and provider (reviews' reputation.summary). Counts and rates only.
CREATE TABLE IF NOT EXISTS console_forecasts (
    clinic_id TEXT PRIMARY KEY,
    forecast_id TEXT NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    weeks INT NOT NULL,
    target_service_level DOUBLE PRECISION NOT NULL,
    target_seconds DOUBLE PRECISION NOT NULL,
    hours JSONB NOT NULL  -- [{weekday, hour, arrivals_per_hour, agents, service_level}]
);

-- provider_id '' is the clinic as a whole.
CREATE TABLE IF NOT EXISTS console_reputation (
    clinic_id TEXT NOT NULL,
    week TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    requests_sent INT NOT NULL,
    responses INT NOT NULL,
    response_rate DOUBLE PRECISION,
    average_rating DOUBLE PRECISION,
    nps DOUBLE PRECISION,
    computed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (clinic_id, week, provider_id)
);
