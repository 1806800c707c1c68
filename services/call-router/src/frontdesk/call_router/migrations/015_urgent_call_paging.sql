-- On-call paging for urgent calls: the first page when the call is handed over, then a durable
-- timer per page re-sends and escalates along the roster (domain/vendor_messages.py) until an
-- answering.page_acknowledged names the call. One row per paged call.
CREATE TABLE call_pages (
    call_id            text PRIMARY KEY,
    clinic_id          text        NOT NULL,
    status             text        NOT NULL,  -- paging | acknowledged | stopped (roster emptied)
    paging_started_at  timestamptz NOT NULL,
    pages_requested    integer     NOT NULL DEFAULT 0,
    last_page_id       text,
    page_timer_key     text,
    acknowledged_at    timestamptz,
    acknowledged_by    text
);
