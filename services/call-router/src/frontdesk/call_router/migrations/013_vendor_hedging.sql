-- Several vendors may hold one call (hedging: the secondary is offered the call too when the primary
-- has not answered by the latest moment the secondary could still answer in time; the first answer
-- wins). A vendor holds a call while it is 'with_vendor' and the vendor is its vendor_id or has
-- 'vendor:<id>' in tried. When the call is answered or abandoned, every other holder is withdrawn
-- (call.withdrawn on its own topic) and recorded here; an answer it reports afterwards is recorded
-- (late_answer_at), never counted as the call's answer.
CREATE TABLE call_withdrawals (
    call_id         text        NOT NULL,
    vendor_id       text        NOT NULL,
    reason          text        NOT NULL,  -- answered_elsewhere | abandoned
    withdrawn_at    timestamptz NOT NULL,
    late_answer_at  timestamptz,
    PRIMARY KEY (call_id, vendor_id)
);

-- call_router_vendor_deadline and call_router_answer were replaced here (a vendor's deadline acts while it
-- still holds the call; an answer cancels the pending hedge): see ../functions.sql.
