-- Long ranges read pre-aggregated data.
--
-- Each hour row carries its check's running totals through the end of that
-- hour, so the runs and failures of any window of whole hours are two rows
-- of a check (the last hour's total less the total before the first), not
-- a row of every hour in it: 30 or 365 days cost the same as one.
-- Retention may delete a check's oldest hours: the total before a window is
-- read off its first row (total less its own count), never assumed zero.
ALTER TABLE rollups_hour ADD COLUMN total_count bigint NOT NULL DEFAULT 0,
                         ADD COLUMN total_failures bigint NOT NULL DEFAULT 0;
UPDATE rollups_hour AS h SET total_count = t.tc, total_failures = t.tf
FROM (SELECT check_id, bucket_ts, sum(count) OVER w AS tc, sum(failures) OVER w AS tf
      FROM rollups_hour WINDOW w AS (PARTITION BY check_id ORDER BY bucket_ts)) AS t
WHERE h.check_id = t.check_id AND h.bucket_ts = t.bucket_ts;

-- Day rollups (UTC days), from the hours: counts, minimum and maximum are
-- exact, the average is weighted by count, the p95 is the worst hour's. The
-- current day's row grows as its hours close.
CREATE TABLE rollups_day (
    check_id   integer NOT NULL,
    bucket_ts  bigint NOT NULL,          -- 00:00 UTC, unix ms
    count      bigint NOT NULL,
    failures   bigint NOT NULL,
    lat_min_us bigint NOT NULL,
    lat_avg_us bigint NOT NULL,
    lat_p95_us bigint NOT NULL,
    lat_max_us bigint NOT NULL,
    PRIMARY KEY (check_id, bucket_ts)
);
CREATE INDEX rollups_day_ts ON rollups_day (bucket_ts);
INSERT INTO rollups_day
SELECT check_id, bucket_ts - bucket_ts % 86400000, sum(count), sum(failures), min(lat_min_us),
       sum(lat_avg_us * count) / sum(count), max(lat_p95_us), max(lat_max_us)
FROM rollups_hour WHERE count > 0 GROUP BY 1, 2;

-- As in 0001, plus: new hours get their running totals; a late hour's
-- change in count moves the totals of its check's later hours by as much;
-- the days that had an hour written are recomputed from their hours.
CREATE OR REPLACE FUNCTION shipwatch_rollup(now_ms bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    nm bigint;
    nh bigint;
    nh0 bigint;
    minute_end bigint := (now_ms - 60000) / 60000 * 60000;
    hour_end bigint := (now_ms - 60000) / 3600000 * 3600000;
    first_ts bigint;
    n bigint := 0;
    k bigint;
    late record;
    old record;
    dc bigint;
    df bigint;
    ptc bigint;
    ptf bigint;
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
    nh0 := nh;
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
        SELECT g.check_id, g.bucket_ts, g.count, g.failures, g.lat_min_us, g.lat_avg_us,
               g.lat_p95_us, g.lat_max_us,
               COALESCE(p.tc, 0) + sum(g.count) OVER w, COALESCE(p.tf, 0) + sum(g.failures) OVER w
        FROM (SELECT check_id, ts - ts % 3600000 AS bucket_ts, count(*) AS count,
                     count(*) FILTER (WHERE outcome <> 1) AS failures,
                     min(duration_us) AS lat_min_us, sum(duration_us) / count(*) AS lat_avg_us,
                     percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_us) AS lat_p95_us,
                     max(duration_us) AS lat_max_us
              FROM results WHERE ts >= nh AND ts < hour_end GROUP BY 1, 2) g
        LEFT JOIN LATERAL (SELECT x.total_count AS tc, x.total_failures AS tf FROM rollups_hour x
                           WHERE x.check_id = g.check_id AND x.bucket_ts < nh
                           ORDER BY x.bucket_ts DESC LIMIT 1) p ON true
        WINDOW w AS (PARTITION BY g.check_id ORDER BY g.bucket_ts)
        ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
            failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
            lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
            lat_max_us = EXCLUDED.lat_max_us, total_count = EXCLUDED.total_count,
            total_failures = EXCLUDED.total_failures;
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
    FOR late IN
        SELECT r.check_id, h.bucket_ts, count(*) AS count,
               count(*) FILTER (WHERE r.outcome <> 1) AS failures,
               min(r.duration_us) AS lat_min_us, sum(r.duration_us) / count(*) AS lat_avg_us,
               percentile_disc(0.95) WITHIN GROUP (ORDER BY r.duration_us) AS lat_p95_us,
               max(r.duration_us) AS lat_max_us
        FROM (SELECT DISTINCT check_id, bucket_ts - bucket_ts % 3600000 AS bucket_ts
              FROM rollup_late WHERE bucket_ts < nm) h
             JOIN results r ON r.check_id = h.check_id AND r.ts >= h.bucket_ts
                  AND r.ts < h.bucket_ts + 3600000
        WHERE h.bucket_ts < nh GROUP BY 1, 2 ORDER BY 1, 2
    LOOP
        SELECT count, failures INTO old FROM rollups_hour
        WHERE check_id = late.check_id AND bucket_ts = late.bucket_ts;
        IF FOUND THEN
            dc := late.count - old.count;
            df := late.failures - old.failures;
            UPDATE rollups_hour SET count = late.count, failures = late.failures,
                lat_min_us = late.lat_min_us, lat_avg_us = late.lat_avg_us,
                lat_p95_us = late.lat_p95_us, lat_max_us = late.lat_max_us,
                total_count = total_count + dc, total_failures = total_failures + df
            WHERE check_id = late.check_id AND bucket_ts = late.bucket_ts;
        ELSE
            SELECT total_count, total_failures INTO ptc, ptf FROM rollups_hour
            WHERE check_id = late.check_id AND bucket_ts < late.bucket_ts
            ORDER BY bucket_ts DESC LIMIT 1;
            IF NOT FOUND THEN
                ptc := 0;
                ptf := 0;
            END IF;
            dc := late.count;
            df := late.failures;
            INSERT INTO rollups_hour VALUES (late.check_id, late.bucket_ts, late.count,
                late.failures, late.lat_min_us, late.lat_avg_us, late.lat_p95_us, late.lat_max_us,
                ptc + dc, ptf + df);
        END IF;
        IF dc <> 0 OR df <> 0 THEN
            UPDATE rollups_hour SET total_count = total_count + dc,
                total_failures = total_failures + df
            WHERE check_id = late.check_id AND bucket_ts > late.bucket_ts;
        END IF;
        INSERT INTO rollups_day
        SELECT check_id, late.bucket_ts - late.bucket_ts % 86400000, sum(count), sum(failures),
               min(lat_min_us), sum(lat_avg_us * count) / sum(count), max(lat_p95_us),
               max(lat_max_us)
        FROM rollups_hour WHERE check_id = late.check_id
             AND bucket_ts >= late.bucket_ts - late.bucket_ts % 86400000
             AND bucket_ts < late.bucket_ts - late.bucket_ts % 86400000 + 86400000
        GROUP BY check_id
        ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
            failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
            lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
            lat_max_us = EXCLUDED.lat_max_us;
        n := n + 1;
    END LOOP;
    -- The days of the hours closed by this pass, from all their hours.
    IF nh > nh0 THEN
        INSERT INTO rollups_day
        SELECT check_id, bucket_ts - bucket_ts % 86400000, sum(count), sum(failures),
               min(lat_min_us), sum(lat_avg_us * count) / sum(count), max(lat_p95_us),
               max(lat_max_us)
        FROM rollups_hour WHERE bucket_ts >= nh0 - nh0 % 86400000 AND bucket_ts < nh
        GROUP BY 1, 2
        ON CONFLICT (check_id, bucket_ts) DO UPDATE SET count = EXCLUDED.count,
            failures = EXCLUDED.failures, lat_min_us = EXCLUDED.lat_min_us,
            lat_avg_us = EXCLUDED.lat_avg_us, lat_p95_us = EXCLUDED.lat_p95_us,
            lat_max_us = EXCLUDED.lat_max_us;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END IF;
    DELETE FROM rollup_late WHERE bucket_ts < nm;
    UPDATE rollup_progress SET next_minute = nm, next_hour = nh WHERE id = 1;
    RETURN n;
END $$;

-- As in 0002, plus the day rollups, kept as long as the others.
CREATE OR REPLACE FUNCTION shipwatch_retention(raw_before bigint, rollups_before bigint)
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
    DELETE FROM rollups_day WHERE bucket_ts < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM events WHERE ts < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM alerts WHERE status = 'resolved' AND resolved < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    DELETE FROM mutes WHERE ends < rollups_before;
    GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
    RETURN n;
END $$;
