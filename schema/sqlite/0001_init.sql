-- shipwatch history, SQLite. Raw rows stay lean: a check is a small integer,
-- and the table is clustered on (check_id, ts) so history reads are range
-- scans and no second index is paid for on every insert.

CREATE TABLE checks (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE results (
    check_id         INTEGER NOT NULL,
    ts               INTEGER NOT NULL,   -- start, unix ms
    duration_us      INTEGER NOT NULL,
    outcome          INTEGER NOT NULL,   -- 0 unknown, 1 up, 2 degraded, 3 down
    status           INTEGER,            -- HTTP status or exit code; NULL none
    error            TEXT,               -- NULL none
    failed_condition TEXT,               -- NULL none
    PRIMARY KEY (check_id, ts)
) WITHOUT ROWID;

CREATE TABLE rollups_minute (
    check_id   INTEGER NOT NULL,
    bucket_ts  INTEGER NOT NULL,         -- bucket start, unix ms
    count      INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    lat_min_us INTEGER NOT NULL,
    lat_avg_us INTEGER NOT NULL,
    lat_p95_us INTEGER NOT NULL,
    lat_max_us INTEGER NOT NULL,
    PRIMARY KEY (check_id, bucket_ts)
) WITHOUT ROWID;

CREATE TABLE rollups_hour (
    check_id   INTEGER NOT NULL,
    bucket_ts  INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    lat_min_us INTEGER NOT NULL,
    lat_avg_us INTEGER NOT NULL,
    lat_p95_us INTEGER NOT NULL,
    lat_max_us INTEGER NOT NULL,
    PRIMARY KEY (check_id, bucket_ts)
) WITHOUT ROWID;

-- Written in the same transaction as the result that produced it, so a
-- restart resumes exactly where the history ends.
CREATE TABLE check_state (
    check_id         INTEGER PRIMARY KEY,
    state            INTEGER NOT NULL,
    fail_streak      INTEGER NOT NULL,
    ok_streak        INTEGER NOT NULL,
    state_since      INTEGER NOT NULL,
    last_ts          INTEGER NOT NULL,
    last_duration_us INTEGER NOT NULL,
    last_outcome     INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    last_failed      TEXT,
    last_cert_expiry INTEGER
);

-- Rollup progress: the first minute not yet rolled up.
CREATE TABLE rollup_progress (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_minute INTEGER NOT NULL,
    next_hour   INTEGER NOT NULL
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    ts         INTEGER NOT NULL,
    type       TEXT NOT NULL,
    check_name TEXT,
    app        TEXT,
    env        TEXT,
    message    TEXT NOT NULL,
    data       TEXT
);
CREATE INDEX events_check ON events (check_name, id);
CREATE INDEX events_app ON events (app, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_ts ON events (ts);

CREATE TABLE deploys (
    id               INTEGER PRIMARY KEY,
    ext_id           TEXT UNIQUE,
    app              TEXT NOT NULL,
    env              TEXT NOT NULL,
    version          TEXT NOT NULL,
    commit_sha       TEXT,
    author           TEXT,
    source           TEXT,
    url              TEXT,
    description      TEXT,
    status           TEXT NOT NULL,
    started_ms       INTEGER NOT NULL,
    finished_ms      INTEGER,
    verdict          TEXT,
    verdict_reason   TEXT,
    failing_check    TEXT,
    rollback_version TEXT
);
CREATE INDEX deploys_app_env ON deploys (app, env, started_ms);
