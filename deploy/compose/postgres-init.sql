-- One database per service (each service owns its data). Runs once, on an empty data directory.
-- btree_gist (the scheduler's no-double-booking constraint) ships with the image's contrib modules;
-- the scheduler's migration creates the extension itself.
CREATE DATABASE frontdesk_call_router;
CREATE DATABASE frontdesk_scheduler;
CREATE DATABASE frontdesk_followup;
CREATE DATABASE frontdesk_reviews;
CREATE DATABASE frontdesk_console;
CREATE DATABASE frontdesk_phone_bridge;
