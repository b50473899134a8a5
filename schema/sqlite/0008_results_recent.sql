-- New results are appended to results_recent, in the order they come, and
-- moved into the table clustered on (check_id, ts) every ten seconds, a
-- check's rows together. A commit then writes the few pages at the end of
-- results_recent instead of one page of each check that had a result: with
-- a thousand checks at one second, that was a thousand pages a second.
-- `results` stays the name to read: a view of both tables.
ALTER TABLE results RENAME TO results_by_check;
CREATE TABLE results_recent (
    check_id          INTEGER NOT NULL,
    ts                INTEGER NOT NULL,
    duration_us       INTEGER NOT NULL,
    outcome           INTEGER NOT NULL,
    status            INTEGER,
    error             TEXT,
    failed_condition  TEXT,
    message           TEXT,
    perfdata          TEXT,
    conditions        INTEGER,
    conditions_failed INTEGER
);
CREATE VIEW results AS
    SELECT check_id, ts, duration_us, outcome, status, error, failed_condition, message,
           perfdata, conditions, conditions_failed FROM results_by_check
    UNION ALL
    SELECT check_id, ts, duration_us, outcome, status, error, failed_condition, message,
           perfdata, conditions, conditions_failed FROM results_recent;
