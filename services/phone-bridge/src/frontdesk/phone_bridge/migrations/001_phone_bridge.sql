-- phone-bridge keeps no tables of its own: a call's routing state lives in the process's memory (it
-- is answered on the SIP call path, never from the database). It uses the shared tables only: the
-- inbox (the router's decisions, once), the outbox (call.received/answered/abandoned/ended) and the
-- clinic directory (read back into memory at start-up).
SELECT 1;
