-- Long ranges read pre-aggregated data.
--
-- Each hour row carries its check's running totals through the end of that
-- hour, so the runs and failures of any window of whole hours are two rows
-- of a check (the last hour's total less the total before the first), not
-- a row of every hour in it: 30 or 365 days cost the same as one.
-- Retention may delete a check's oldest hours: the total before a window is
-- read off its first row (total less its own count), never assumed zero.
ALTER TABLE rollups_hour ADD COLUMN total_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_hour ADD COLUMN total_failures INTEGER NOT NULL DEFAULT 0;
UPDATE rollups_hour AS h SET total_count = t.tc, total_failures = t.tf
FROM (SELECT check_id, bucket_ts,
             sum(count) OVER w AS tc, sum(failures) OVER w AS tf
      FROM rollups_hour WINDOW w AS (PARTITION BY check_id ORDER BY bucket_ts)) AS t
WHERE h.check_id = t.check_id AND h.bucket_ts = t.bucket_ts;

-- Day rollups (UTC days), from the hours: counts, minimum and maximum are
-- exact, the average is weighted by count, the p95 is the worst hour's. The
-- current day's row grows as its hours close.
CREATE TABLE rollups_day (
    check_id   INTEGER NOT NULL,
    bucket_ts  INTEGER NOT NULL,         -- 00:00 UTC, unix ms
    count      INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    lat_min_us INTEGER NOT NULL,
    lat_avg_us INTEGER NOT NULL,
    lat_p95_us INTEGER NOT NULL,
    lat_max_us INTEGER NOT NULL,
    PRIMARY KEY (check_id, bucket_ts)
) WITHOUT ROWID;
INSERT INTO rollups_day
SELECT check_id, bucket_ts - bucket_ts % 86400000, sum(count), sum(failures), min(lat_min_us),
       sum(lat_avg_us * count) / sum(count), max(lat_p95_us), max(lat_max_us)
FROM rollups_hour WHERE count > 0 GROUP BY 1, 2;

-- Minutes that received a result after they were rolled up (a run that
-- started before the minute closed and ended after it was rolled up): the
-- next rollup pass recomputes them, their hour and their day.
CREATE TABLE rollup_late (
    check_id  INTEGER NOT NULL,
    bucket_ts INTEGER NOT NULL,          -- minute start, unix ms
    PRIMARY KEY (check_id, bucket_ts)
) WITHOUT ROWID;
