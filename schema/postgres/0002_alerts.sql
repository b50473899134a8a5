-- Alerts, silences and maintenance windows, and the notifications owed.
-- Ids come from sequences in blocks of 1000 (see events_id_seq), so one is
-- never handed out twice, even by several daemons sharing the database: an
-- outbox id is the delivery id receivers de-duplicate on, and alert and
-- mute ids are what people type.
CREATE SEQUENCE alerts_id_seq INCREMENT BY 1000;
CREATE SEQUENCE mutes_id_seq INCREMENT BY 1000;
CREATE SEQUENCE outbox_id_seq INCREMENT BY 1000;

CREATE TABLE alerts (
    id            bigint PRIMARY KEY,
    kind          text NOT NULL,     -- down | degraded | heartbeat | certificate |
                                     -- flapping | deploy-failed
    check_name    text,              -- NULL for deploy-failed
    app           text,
    env           text,
    severity      text NOT NULL,     -- critical | warning | info
    status        text NOT NULL,     -- firing | acknowledged | resolved
    summary       text NOT NULL,
    started       bigint NOT NULL,   -- unix ms
    resolved      bigint,            -- unix ms; NULL while open
    ack_by        text,
    ack_ts        bigint,            -- unix ms; NULL unless acknowledged
    ack_comment   text,
    muted_by      text,              -- "silence 3", "maintenance nightly"; NULL none
    deploy_id     bigint,            -- deploy-failed: the deploy; NULL none
    last_notified bigint,            -- unix ms; NULL never
    notifications bigint NOT NULL DEFAULT 0
);
-- Open alerts are few and read at every start and by the default listing.
CREATE INDEX alerts_open ON alerts (id) WHERE status <> 'resolved';
CREATE INDEX alerts_check ON alerts (check_name, id);
CREATE INDEX alerts_app ON alerts (app, id);
CREATE INDEX alerts_resolved ON alerts (resolved) WHERE status = 'resolved';

CREATE TABLE mutes (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,        -- silence | maintenance
    check_name text,                 -- matchers; NULL = any
    app        text,
    env        text,
    severity   text,
    starts     bigint NOT NULL,      -- unix ms
    ends       bigint NOT NULL,      -- unix ms, exclusive
    author     text,
    comment    text,
    created    bigint NOT NULL       -- unix ms
);
CREATE INDEX mutes_ends ON mutes (ends);

-- alert_id is not a foreign key: a notification is kept even if its
-- alert's row could not be written.
CREATE TABLE outbox (
    id       bigint PRIMARY KEY,     -- the payload's delivery_id
    alert_id bigint NOT NULL,
    notifier text NOT NULL,
    payload  text NOT NULL,          -- JSON object text
    created  bigint NOT NULL,        -- unix ms
    attempts bigint NOT NULL DEFAULT 0,
    next_ts  bigint NOT NULL         -- unix ms of the next try
);

-- Retention, done once however many daemons share the database: drop the
-- daily partitions of results wholly before raw_before, delete older rows
-- of the DEFAULT partition, rollups and events before rollups_before,
-- resolved alerts and mutes over. Returns the partitions dropped plus the
-- rows deleted.
CREATE FUNCTION shipwatch_retention(raw_before bigint, rollups_before bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    part record;
    day_ms bigint;
    n bigint := 0;
    k bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7403311004) THEN
        RETURN 0;
    END IF;
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'results'::regclass AND c.relname ~ '^results_[0-9]{8}$'
    LOOP
        day_ms := (extract(epoch FROM to_date(substr(part.relname, 9), 'YYYYMMDD')))::bigint * 1000;
        IF day_ms + 86400000 <= raw_before THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            n := n + 1;
        END IF;
    END LOOP;
    DELETE FROM results_default WHERE ts < raw_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM rollups_minute WHERE bucket_ts < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM rollups_hour WHERE bucket_ts < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM events WHERE ts < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM alerts WHERE status = 'resolved' AND resolved < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM mutes WHERE ends < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    RETURN n;
END $$;
