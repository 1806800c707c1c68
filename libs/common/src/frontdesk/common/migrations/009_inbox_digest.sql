-- What each consumed event held (inbox.digest): a record with the source and id of an event processed
-- before but other content is an id reused for another event, dead-lettered rather than dropped as
-- a repeat. Rows claimed before this have none: their repeats stay silent. Nullable, no default: adding
-- it rewrites nothing.
ALTER TABLE inbox ADD COLUMN digest bytea;
