-- A silence may end when the alert it was made from resolves: the alert's
-- id, NULL for a silence that ends only at its time. One that has no time
-- of its own keeps ends at the largest bigint until then.
ALTER TABLE mutes ADD COLUMN alert_id bigint;
