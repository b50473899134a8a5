-- What a run said beside its outcome: a plugin's message (its first line,
-- OK ones included) and its perfdata as normalized text. NULL when the run
-- said nothing, so raw rows of http and tcp checks stay as lean as before.
-- Each condition's verdict: how many were evaluated and a bitmask of those
-- that failed (bit i for the i-th, the first 16); NULL for a check without
-- conditions.
-- The check's state keeps its last result's too, for /metrics after a
-- restart.
ALTER TABLE results ADD COLUMN message TEXT;
ALTER TABLE results ADD COLUMN perfdata TEXT;
ALTER TABLE results ADD COLUMN conditions INTEGER;
ALTER TABLE results ADD COLUMN conditions_failed INTEGER;
ALTER TABLE check_state ADD COLUMN last_message TEXT;
ALTER TABLE check_state ADD COLUMN last_perfdata TEXT;
