-- Alerts, silences and maintenance windows, and the notifications owed.
-- Ids are AUTOINCREMENT so that one is never handed out twice, even after
-- the newest row was deleted: an outbox id is the delivery id receivers
-- de-duplicate on, and alert and mute ids are what people type. The daemon
-- assigns ids itself (from the larger of MAX(id) and sqlite_sequence at
-- open); inserting an explicit id still advances sqlite_sequence.

CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,     -- down | degraded | heartbeat | certificate |
                                     -- flapping | deploy-failed
    check_name    TEXT,              -- NULL for deploy-failed
    app           TEXT,
    env           TEXT,
    severity      TEXT NOT NULL,     -- critical | warning | info
    status        TEXT NOT NULL,     -- firing | acknowledged | resolved
    summary       TEXT NOT NULL,
    started       INTEGER NOT NULL,  -- unix ms
    resolved      INTEGER,           -- unix ms; NULL while open
    ack_by        TEXT,
    ack_ts        INTEGER,           -- unix ms; NULL unless acknowledged
    ack_comment   TEXT,
    muted_by      TEXT,              -- "silence 3", "maintenance nightly"; NULL none
    deploy_id     INTEGER,           -- deploy-failed: the deploy; NULL none
    last_notified INTEGER,           -- unix ms; NULL never
    notifications INTEGER NOT NULL DEFAULT 0
);
-- Open alerts are few and read at every start and by the default listing:
-- this partial index walks them newest (or oldest) first. Queries must say
-- "status != 'resolved'" (alone or beside status = ?) for it to apply.
CREATE INDEX alerts_open ON alerts (id) WHERE status != 'resolved';
CREATE INDEX alerts_check ON alerts (check_name, id);
CREATE INDEX alerts_app ON alerts (app, id);
-- Retention: resolved alerts by the time they were resolved.
CREATE INDEX alerts_resolved ON alerts (resolved) WHERE status = 'resolved';

-- Silences and ad-hoc maintenance windows: notifications of the alerts
-- they match are held while now is in [starts, ends).
CREATE TABLE mutes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,        -- silence | maintenance
    check_name TEXT,                 -- matchers; NULL = any
    app        TEXT,
    env        TEXT,
    severity   TEXT,
    starts     INTEGER NOT NULL,     -- unix ms
    ends       INTEGER NOT NULL,     -- unix ms, exclusive
    author     TEXT,
    comment    TEXT,
    created    INTEGER NOT NULL      -- unix ms
);
-- Mutes not over (ends > now), soonest ending first; and retention.
CREATE INDEX mutes_ends ON mutes (ends);

-- Notifications owed, rendered when queued; a row leaves when delivered or
-- abandoned. alert_id is not a foreign key: a notification is kept even if
-- its alert's row could not be written.
CREATE TABLE outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,   -- the payload's delivery_id
    alert_id INTEGER NOT NULL,
    notifier TEXT NOT NULL,          -- its name in the configuration
    payload  TEXT NOT NULL,          -- JSON object text
    created  INTEGER NOT NULL,       -- unix ms
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ts  INTEGER NOT NULL        -- unix ms of the next try
);
