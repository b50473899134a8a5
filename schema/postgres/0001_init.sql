-- shipwatch history, PostgreSQL. The same tables and meaning as
-- schema/sqlite, typed for PostgreSQL. Raw results stay lean (no text per
-- row unless there is an error) and are partitioned by day on ts, so
-- retention drops whole partitions instead of deleting rows. The daemon
-- creates the partitions of the coming days ahead of time; the DEFAULT
-- partition catches anything else so an insert never fails.

CREATE TABLE checks (
    id   serial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE results (
    check_id         integer NOT NULL,
    ts               bigint NOT NULL,    -- start, unix ms
    duration_us      integer NOT NULL,
    outcome          smallint NOT NULL,  -- 0 unknown, 1 up, 2 degraded, 3 down
    status           smallint,           -- HTTP status or exit code; NULL none
    error            text,               -- NULL none
    failed_condition text                -- NULL none
) PARTITION BY RANGE (ts);
-- Created on every partition; history reads are range scans of one check.
CREATE INDEX results_check_ts ON results (check_id, ts);
CREATE TABLE results_default PARTITION OF results DEFAULT;

CREATE TABLE rollups_minute (
    check_id   integer NOT NULL,
    bucket_ts  bigint NOT NULL,          -- bucket start, unix ms
    count      bigint NOT NULL,
    failures   bigint NOT NULL,
    lat_min_us bigint NOT NULL,
    lat_avg_us bigint NOT NULL,
    lat_p95_us bigint NOT NULL,
    lat_max_us bigint NOT NULL,
    PRIMARY KEY (check_id, bucket_ts)
);
CREATE INDEX rollups_minute_ts ON rollups_minute (bucket_ts);

CREATE TABLE rollups_hour (
    check_id   integer NOT NULL,
    bucket_ts  bigint NOT NULL,
    count      bigint NOT NULL,
    failures   bigint NOT NULL,
    lat_min_us bigint NOT NULL,
    lat_avg_us bigint NOT NULL,
    lat_p95_us bigint NOT NULL,
    lat_max_us bigint NOT NULL,
    PRIMARY KEY (check_id, bucket_ts)
);
CREATE INDEX rollups_hour_ts ON rollups_hour (bucket_ts);

-- Minutes that received a result after they were rolled up (replayed from
-- a spool after an outage): the next rollup pass recomputes them.
CREATE TABLE rollup_late (
    check_id  integer NOT NULL,
    bucket_ts bigint NOT NULL,           -- minute start, unix ms
    PRIMARY KEY (check_id, bucket_ts)
);

-- Written in the same transaction as the result that produced it.
CREATE TABLE check_state (
    check_id         integer PRIMARY KEY,
    state            smallint NOT NULL,
    fail_streak      integer NOT NULL,
    ok_streak        integer NOT NULL,
    state_since      bigint NOT NULL,
    last_ts          bigint NOT NULL,
    last_duration_us bigint NOT NULL,
    last_outcome     smallint NOT NULL,
    last_status      integer,
    last_error       text,
    last_failed      text,
    last_cert_expiry bigint
) WITH (fillfactor = 50);
-- Every result rewrites its check's row: half-empty pages let PostgreSQL
-- update in place (HOT) without touching the primary key's index, and
-- autovacuum keeps up without help.
ALTER TABLE check_state SET (autovacuum_vacuum_scale_factor = 0.01);

-- Rollup progress: the first minute and hour not yet rolled up. One row,
-- shared by every daemon writing to this database.
CREATE TABLE rollup_progress (
    id          integer PRIMARY KEY CHECK (id = 1),
    next_minute bigint NOT NULL,
    next_hour   bigint NOT NULL
);

-- Exactly-once writes: each daemon numbers its writes and records, in the
-- transaction that writes them, the last number committed. After a lost
-- COMMIT reply it drops what the database already has.
CREATE TABLE writer_progress (
    node    text PRIMARY KEY,
    last_rn bigint NOT NULL
);

-- Called first in every write transaction of node, whose records start at
-- first_rn: locks the node's progress row for the rest of the transaction
-- and fails (SQLSTATE SW001) when those records are already committed. A
-- transaction the daemon gave up on (its connection timed out) may still
-- be running on the server: whichever of it and the retry commits second
-- sees the first one's progress here and rolls back, so nothing is written
-- twice.
CREATE FUNCTION shipwatch_claim(p_node text, first_rn bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    done bigint;
BEGIN
    SELECT last_rn INTO done FROM writer_progress WHERE node = p_node FOR UPDATE;
    IF NOT FOUND THEN
        -- A second first writer waits here for the first one's commit.
        INSERT INTO writer_progress VALUES (p_node, 0) ON CONFLICT (node) DO NOTHING;
        SELECT last_rn INTO done FROM writer_progress WHERE node = p_node FOR UPDATE;
    END IF;
    IF done >= first_rn THEN
        RAISE EXCEPTION 'shipwatch: writes of % up to % are already committed', p_node, done
            USING ERRCODE = 'SW001';
    END IF;
END $$;

-- Ids of events, deploys, alerts, mutes and outbox rows are assigned by the
-- daemon before the row is written, from blocks of 1000 reserved with one
-- nextval, so several daemons sharing the database never hand out one id
-- twice.
CREATE SEQUENCE events_id_seq INCREMENT BY 1000;
CREATE SEQUENCE deploys_id_seq INCREMENT BY 1000;

CREATE TABLE events (
    id         bigint PRIMARY KEY,
    ts         bigint NOT NULL,
    type       text NOT NULL,
    check_name text,
    app        text,
    env        text,
    message    text NOT NULL,
    data       text
);
CREATE INDEX events_check ON events (check_name, id);
CREATE INDEX events_app ON events (app, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_ts ON events (ts);

CREATE TABLE deploys (
    id               bigint PRIMARY KEY,
    ext_id           text UNIQUE,
    app              text NOT NULL,
    env              text NOT NULL,
    version          text NOT NULL,
    commit_sha       text,
    author           text,
    source           text,
    url              text,
    description      text,
    status           text NOT NULL,
    started_ms       bigint NOT NULL,
    finished_ms      bigint,
    verdict          text,
    verdict_reason   text,
    failing_check    text,
    rollback_version text
);
CREATE INDEX deploys_app_env ON deploys (app, env, started_ms);

-- Create the daily partitions of results covering [from_ms, from_ms + days),
-- days in UTC. Several daemons may call it at once: the advisory lock
-- serializes them. A day whose rows already sit in the DEFAULT partition
-- cannot get its own partition; it is skipped (and stays in DEFAULT).
CREATE FUNCTION shipwatch_ensure_partitions(from_ms bigint, days integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    day_ms bigint;
    part text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7403311002);
    FOR i IN 0 .. days - 1 LOOP
        day_ms := (from_ms / 86400000 + i) * 86400000;
        part := 'results_' || to_char(to_timestamp(day_ms / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF results FOR VALUES FROM (%s) TO (%s)',
                               part, day_ms, day_ms + 86400000);
                created := created + 1;
            EXCEPTION WHEN others THEN
                RAISE WARNING 'shipwatch: partition % not created: %', part, SQLERRM;
            END;
        END IF;
    END LOOP;
    RETURN created;
END $$;

-- Roll up every minute and hour closed at now_ms (a minute after its end)
-- since the last pass, and recompute the minutes that received late rows.
-- Done once however many daemons share the database: the first to take
-- the lock does it, the others skip. Returns the buckets written.
CREATE FUNCTION shipwatch_rollup(now_ms bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    nm bigint;
    nh bigint;
    minute_end bigint := (now_ms - 60000) / 60000 * 60000;
    hour_end bigint := (now_ms - 60000) / 3600000 * 3600000;
    first_ts bigint;
    n bigint := 0;
    k bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7403311003) THEN
        RETURN 0;
    END IF;
    SELECT next_minute, next_hour INTO nm, nh FROM rollup_progress WHERE id = 1;
    IF NOT FOUND THEN
        SELECT min(ts) INTO first_ts FROM results;
        IF first_ts IS NULL THEN
            RETURN 0;
        END IF;
        nm := first_ts - first_ts % 60000;
        nh := first_ts - first_ts % 3600000;
        INSERT INTO rollup_progress VALUES (1, nm, nh);
    END IF;
    IF minute_end > nm THEN
        INSERT INTO rollups_minute
        SELECT check_id, ts - ts % 60000, count(*), count(*) FILTER (WHERE outcome <> 1),
               min(duration_us), sum(duration_us) / count(*),
               percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_us), max(duration_us)
        FROM results WHERE ts >= nm AND ts < minute_end GROUP BY 1, 2
        ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
            failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
            lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
            lat_max_us = EXCLUDED.lat_max_us;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
        nm := minute_end;
    END IF;
    IF hour_end > nh THEN
        INSERT INTO rollups_hour
        SELECT check_id, ts - ts % 3600000, count(*), count(*) FILTER (WHERE outcome <> 1),
               min(duration_us), sum(duration_us) / count(*),
               percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_us), max(duration_us)
        FROM results WHERE ts >= nh AND ts < hour_end GROUP BY 1, 2
        ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
            failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
            lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
            lat_max_us = EXCLUDED.lat_max_us;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
        nh := hour_end;
    END IF;
    -- Late rows: recompute their minute (and their hour when it is closed)
    -- from every raw row of the bucket.
    INSERT INTO rollups_minute
    SELECT r.check_id, l.bucket_ts, count(*), count(*) FILTER (WHERE r.outcome <> 1),
           min(r.duration_us), sum(r.duration_us) / count(*),
           percentile_disc(0.95) WITHIN GROUP (ORDER BY r.duration_us), max(r.duration_us)
    FROM rollup_late l JOIN results r ON r.check_id = l.check_id AND r.ts >= l.bucket_ts
         AND r.ts < l.bucket_ts + 60000
    WHERE l.bucket_ts < nm GROUP BY 1, 2
    ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
        failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
        lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
        lat_max_us = EXCLUDED.lat_max_us;
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    INSERT INTO rollups_hour
    SELECT r.check_id, h.bucket_ts, count(*), count(*) FILTER (WHERE r.outcome <> 1),
           min(r.duration_us), sum(r.duration_us) / count(*),
           percentile_disc(0.95) WITHIN GROUP (ORDER BY r.duration_us), max(r.duration_us)
    FROM (SELECT DISTINCT check_id, bucket_ts - bucket_ts % 3600000 AS bucket_ts
          FROM rollup_late WHERE bucket_ts < nm) h
         JOIN results r ON r.check_id = h.check_id AND r.ts >= h.bucket_ts
              AND r.ts < h.bucket_ts + 3600000
    WHERE h.bucket_ts < nh GROUP BY 1, 2
    ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
        failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
        lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
        lat_max_us = EXCLUDED.lat_max_us;
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    DELETE FROM rollup_late WHERE bucket_ts < nm;
    UPDATE rollup_progress SET next_minute = nm, next_hour = nh WHERE id = 1;
    RETURN n;
END $$;
