#!/bin/sh
# The store writer: sustained results/s into PostgreSQL and SQLite through
# the daemon's own store code, CPU per 1,000 results and at 5,000 a second,
# bytes on disk per raw result, and query times over a year of rollups for
# 10,000 checks; beside them, in the same run, each engine's raw ceiling
# (COPY for PostgreSQL, one INSERT ... SELECT for SQLite) of the same rows.
#
#   sh bench/store.sh [RESULTS] [DAYS]  # default 1,000,000 and 366
#
# PostgreSQL runs private, on 127.0.0.1, with its default durability
# (fsync on, synchronous_commit on): tests/servers.py with
# SHIPWATCH_PG_DURABLE=1.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
results="${1:-1000000}"
days="${2:-366}"
checks=10000

release_build bench/store_bench

if [ -z "${SHIPWATCH_TEST_PG_DSN:-}" ]; then
    SHIPWATCH_PG_DURABLE=1 exec /usr/bin/python3 tests/servers.py postgres -- sh "$0" "$@"
fi

work=$(mktemp -d /tmp/shipwatch-store-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
bench=build-bench/bench/store_bench
pg="$SHIPWATCH_TEST_PG_DSN"
psql_() { psql -X -q -At -v ON_ERROR_STOP=1 "$pg" "$@"; }
ms() { date +%s%3N; }

echo "== machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1), $(uname -r), $(date -u +%F)"
echo "== PostgreSQL $(psql_ -c 'SHOW server_version'), fsync $(psql_ -c 'SHOW fsync'), SQLite $(sqlite3 --version | cut -d' ' -f1)"

# --- writer throughput and CPU ---
$bench postgres "$pg" --results "$results" --checks $checks --rate 5000 --seconds 10 2>/dev/null
$bench sqlite "$work/h.db" --results "$results" --checks $checks --rate 5000 --seconds 10 2>/dev/null

# --- bytes per raw result ---
n=$(psql_ -c 'SELECT count(*) FROM results')
bytes=$(psql_ -c "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('results')")
echo "postgres bytes: $bytes for $n results = $((bytes / n)) B per result (heap + index, every partition)"
sqlite3 "$work/h.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
n=$(sqlite3 "$work/h.db" 'SELECT count(*) FROM results')
bytes=$(sqlite3 "$work/h.db" "SELECT sum(pgsize) FROM dbstat WHERE name IN ('results_by_check', 'results_recent')" 2>/dev/null || stat -c %s "$work/h.db")
echo "sqlite bytes: $bytes for $n results = $((bytes / n)) B per result (the clustered table and the recent one)"

# --- ceilings: the same rows, straight into an empty table of the same shape ---
psql_ -c "COPY (SELECT * FROM results) TO STDOUT" > "$work/rows.tsv"
psql_ -c "CREATE TABLE copy_ceiling (LIKE results INCLUDING DEFAULTS); CREATE INDEX ON copy_ceiling (check_id, ts)"
t0=$(ms)
psql_ -c "\\copy copy_ceiling FROM '$work/rows.tsv'"
t1=$(ms)
echo "postgres ceiling: COPY of the same $n rows in $((t1 - t0)) ms = $((n * 1000 / (t1 - t0 + 1))) rows/s"
t0=$(ms)
sqlite3 "$work/h.db" "CREATE TABLE ceiling AS SELECT * FROM results WHERE 0;
CREATE INDEX ceiling_ct ON ceiling (check_id, ts);
INSERT INTO ceiling SELECT * FROM results;"
t1=$(ms)
echo "sqlite ceiling: INSERT ... SELECT of the same $n rows, one transaction, in $((t1 - t0)) ms = $((n * 1000 / (t1 - t0 + 1))) rows/s"

# --- a year of rollups for 10,000 checks, then the queries ---
# DAYS days (366 by default) of hour rollups with their running totals, as
# the rollup job writes them (one check in seven fails once a week hour),
# and the day rollups built from them: 87.8 M hour rows by default.
now=$(date +%s)000
last=$((now - now % 3600000 - 3600000))          # the last closed hour
from=$((last - (days * 24 - 1) * 3600000))
nh=$((days * 24))
fail="((c.id + h) % 7 = 0)"
total_fail="CASE WHEN h >= (7 - c.id % 7) % 7 THEN (h - (7 - c.id % 7) % 7) / 7 + 1 ELSE 0 END"
days_sql="INSERT INTO rollups_day SELECT check_id, bucket_ts - bucket_ts % 86400000, sum(count),
  sum(failures), min(lat_min_us), sum(lat_avg_us * count) / sum(count), max(lat_p95_us), max(lat_max_us)
  FROM rollups_hour WHERE check_id IN (SELECT id FROM checks WHERE name LIKE 'q-%') GROUP BY 1, 2"
t0=$(ms)
psql_ -c "INSERT INTO checks (name) SELECT 'q-' || i FROM generate_series(1, $checks) i ON CONFLICT DO NOTHING;
INSERT INTO rollups_hour SELECT c.id, $from + h::bigint * 3600000, 120, $fail::int, 100, 200, 400, 900,
  120 * (h + 1), $total_fail
  FROM checks c, generate_series(0, $nh - 1) h WHERE c.name LIKE 'q-%' ON CONFLICT DO NOTHING;
$days_sql ON CONFLICT DO NOTHING" -c "VACUUM ANALYZE rollups_hour" -c "VACUUM ANALYZE rollups_day"
t1=$(ms)
sqlite3 "$work/h.db" "INSERT OR IGNORE INTO checks (name) SELECT 'q-' || value FROM generate_series(1, $checks);
INSERT OR IGNORE INTO rollups_hour SELECT c.id, $from + h * 3600000, 120, $fail, 100, 200, 400, 900,
  120 * (h + 1), $total_fail
  FROM checks c, (SELECT value AS h FROM generate_series(0, $nh - 1)) WHERE c.name LIKE 'q-%';
INSERT OR IGNORE ${days_sql#INSERT };
ANALYZE"
t2=$(ms)
echo "rollups of $checks checks over $days days: postgres $(psql_ -c 'SELECT count(*) FROM rollups_hour') hour rows in $((t1 - t0)) ms, sqlite $(sqlite3 "$work/h.db" 'SELECT count(*) FROM rollups_hour') in $((t2 - t1)) ms"

# Through the daemon's own code: checks.stats (every check's 24 h, 7 d and
# 30 d from the running totals, plus the open hour's minutes) and one
# check's daily history over 365 days, from the call to the callback.
$bench postgres "$pg" --queries 9 --history q-5000 2>/dev/null
$bench sqlite "$work/h.db" --queries 9 --history q-5000 2>/dev/null

# The uptime of every check over 30 and 365 days in SQL, the statement the
# stats query runs for its closed hours (the running totals at the last
# closed hour and at the window's first, by key), one window.
for d in 30 365; do
    start=$((last - d * 86400000 + 3600000))
    sql="SELECT count(*), sum(b.total_count - a.total_count + a.count),
  sum(b.total_failures - a.total_failures + a.failures) FROM checks c
  LEFT JOIN rollups_hour b ON b.check_id = c.id AND b.bucket_ts = $last
  LEFT JOIN rollups_hour a ON a.check_id = c.id AND a.bucket_ts = $start
  WHERE c.name LIKE 'q-%'"
    # Timed inside one session: the server's (or library's) time, no process start.
    t=$( { printf '%s\n' '\timing on'; for i in 1 2 3 4 5; do echo "$sql;"; done; } |
        psql -X -q -At "$pg" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | head -1)
    echo "postgres uptime of $checks checks over $d days (running totals): best of 5 $t ms"
    t=$( { echo '.timer on'; for i in 1 2 3 4 5; do echo "$sql;"; done; } |
        sqlite3 "$work/h.db" | sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p' | sort -n | head -1)
    echo "sqlite uptime of $checks checks over $d days (running totals): best of 5 $t s"
done
