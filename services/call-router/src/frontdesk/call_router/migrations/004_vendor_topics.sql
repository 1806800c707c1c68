-- Per-vendor topics (vendor.<id>.calls) the router has made sure exist. A vendor's calls are
-- published there only once its topic is ready, so a missing topic never stalls the outbox.
CREATE TABLE vendor_topics (
    vendor_id   text        PRIMARY KEY,
    ready       boolean     NOT NULL DEFAULT false,
    ready_at    timestamptz
);
