#!/usr/bin/env python3
"""Write the shipwatch Grafana dashboards as JSON into deploy/grafana/dashboards/.

The JSON files are what Grafana loads; this script is how they are made, so
a change is one edit here and `python3 deploy/grafana/dashboards.py`.
tests/stack/ runs every PromQL and SQL query of the JSON against the
stack's Prometheus and PostgreSQL.
"""
import json
import os

PROM = {"type": "prometheus", "uid": "prometheus"}
PG = {"type": "postgres", "uid": "postgres"}
LOKI = {"type": "loki", "uid": "loki"}

# Deploys from the PostgreSQL deploys table, on every time-series panel.
DEPLOY_ANNOTATION = {
    "name": "Deploys",
    "datasource": PG,
    "enable": True,
    "iconColor": "#8F3BB8",
    "target": {
        "refId": "Anno",
        "format": "table",
        "rawQuery": True,
        "editorMode": "code",
        "rawSql": (
            "SELECT started_ms AS time, finished_ms AS timeend,\n"
            "       app || '/' || env || ' ' || version || ' (' || status ||\n"
            "       coalesce(', verdict ' || verdict, '') || ')' AS text,\n"
            "       concat_ws(',', 'deploy', app, env, verdict) AS tags\n"
            "FROM deploys\n"
            "WHERE started_ms BETWEEN $__from AND $__to\n"
            "ORDER BY started_ms"
        ),
    },
}
BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


class Board:
    """Lays panels out on Grafana's 24-column grid, row by row."""

    def __init__(self, uid, title, description, time_from="now-6h", tags=()):
        self.uid, self.title, self.description = uid, title, description
        self.time_from, self.tags = time_from, list(tags)
        self.panels, self.variables = [], []
        self.x = self.y = self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["shipwatch"] + self.tags,
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "graphTooltip": 1,
            "refresh": "30s",
            "time": {"from": self.time_from, "to": "now"},
            "annotations": {"list": [BUILTIN_ANNOTATION, DEPLOY_ANNOTATION]},
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def prom(expr, legend="", instant=False):
    t = {"datasource": PROM, "expr": expr, "legendFormat": legend, "refId": "A"}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    return t


def sql(query, fmt="time_series"):
    return {"datasource": PG, "format": fmt, "rawQuery": True, "editorMode": "code",
            "rawSql": query, "refId": "A"}


def panel(kind, title, targets, unit=None, description="", ds=PROM, **extra):
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    p = {"type": kind, "title": title, "description": description, "datasource": ds,
         "targets": targets, "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    p.update(extra)
    return p


def query_var(name, label, query, ds=PROM, multi=False):
    return {"name": name, "label": label, "type": "query", "datasource": ds,
            "query": query, "definition": query if isinstance(query, str) else query["query"],
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": multi,
            "current": {}, "options": []}


def fleet():
    b = Board("shipwatch-fleet", "shipwatch: fleet overview",
              "Every check by app and environment: state now, uptime against the SLO, "
              "latency, alerts firing.", tags=["fleet"])
    b.add(panel("stat", "Checks down", [prom("count(max by (check) (shipwatch_check_state) == 3) or vector(0)")],
                options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
                fieldConfig={"defaults": {"thresholds": {"mode": "absolute", "steps": [
                    {"color": "green", "value": None}, {"color": "red", "value": 1}]}}, "overrides": []}), 6, 4)
    b.add(panel("stat", "Checks degraded", [prom("count(max by (check) (shipwatch_check_state) == 2) or vector(0)")],
                options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}}), 6, 4)
    b.add(panel("stat", "Alerts firing", [prom("sum by (severity) (max by (severity, instance) (shipwatch_alerts_firing))", "{{severity}}")],
                options={"reduceOptions": {"calcs": ["lastNotNull"]}}), 6, 4)
    b.add(panel("stat", "Daemons up", [prom('sum(up{job="shipwatchd"})')],
                options={"reduceOptions": {"calcs": ["lastNotNull"]}}), 6, 4)
    b.add(panel("table", "State by app and env",
                [prom("max by (app, env, check, type) (shipwatch_check_state)", instant=True)],
                description="0 unknown, 1 up, 2 degraded, 3 down",
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}]), 12, 9)
    b.add(panel("bargauge", "Uptime over 30 days against the SLO",
                [prom("shipwatch:app_uptime:ratio_30d", "{{app}} {{env}}")], "percentunit",
                description="Runs that came back up over all runs judged; red below the SLO, 99.9% (the threshold of this panel).",
                fieldConfig={"defaults": {"unit": "percentunit", "min": 0.9, "max": 1,
                                          "thresholds": {"mode": "absolute", "steps": [
                                              {"color": "red", "value": None},
                                              {"color": "green", "value": 0.999}]}}, "overrides": []}), 12, 9)
    b.add(panel("timeseries", "Latency p95 by check",
                [prom("histogram_quantile(0.95, sum by (check, le) (rate(shipwatch_check_duration_seconds_bucket[$__rate_interval])))",
                      "{{check}}")], "s"), 12, 8)
    b.add(panel("timeseries", "Uptime over 1 hour by app",
                [prom("shipwatch:check_uptime:ratio_1h", "{{check}}")], "percentunit"), 12, 8)
    b.add(panel("table", "Alerts firing in Prometheus",
                [prom('ALERTS{alertstate="firing"}', instant=True)]), 12, 8)
    b.add(panel("logs", "shipwatchd warnings and errors",
                [{"datasource": LOKI, "expr": '{service=~"shipwatchd.*", level=~"warn|error"}', "refId": "A"}],
                ds=LOKI), 12, 8)
    return b


def check_detail():
    b = Board("shipwatch-check", "shipwatch: check detail",
              "One check: state, latency, results, uptime, its failures from PostgreSQL and its log lines.",
              tags=["check"])
    b.variables += [
        query_var("app", "app", "label_values(shipwatch_check_state, app)"),
        query_var("env", "env", 'label_values(shipwatch_check_state{app="$app"}, env)'),
        query_var("check", "check", 'label_values(shipwatch_check_state{app="$app", env="$env"}, check)'),
    ]
    sel = 'check="$check"'
    b.add(panel("stat", "State", [prom("max(shipwatch_check_state{%s})" % sel)],
                description="0 unknown, 1 up, 2 degraded, 3 down",
                options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
                fieldConfig={"defaults": {"mappings": [{"type": "value", "options": {
                    "0": {"text": "unknown", "color": "gray"}, "1": {"text": "up", "color": "green"},
                    "2": {"text": "degraded", "color": "orange"}, "3": {"text": "down", "color": "red"}}}]},
                    "overrides": []}), 6, 5)
    for label, rec in (("1 hour", "1h"), ("1 day", "1d"), ("30 days", "30d")):
        b.add(panel("stat", "Uptime, " + label, [prom("shipwatch:check_uptime:ratio_%s{%s}" % (rec, sel))],
                    "percentunit", options={"reduceOptions": {"calcs": ["lastNotNull"]}}), 6, 5)
    b.add(panel("state-timeline", "State over time", [prom("max(shipwatch_check_state{%s})" % sel, "$check")]), 24, 5)
    b.add(panel("timeseries", "Run time",
                [prom("histogram_quantile(0.5, sum by (le) (rate(shipwatch_check_duration_seconds_bucket{%s}[$__rate_interval])))" % sel, "p50"),
                 prom("histogram_quantile(0.95, sum by (le) (rate(shipwatch_check_duration_seconds_bucket{%s}[$__rate_interval])))" % sel, "p95")],
                "s"), 12, 8)
    b.add(panel("timeseries", "Results per minute",
                [prom("sum by (result) (rate(shipwatch_check_results_total{%s}[$__rate_interval])) * 60" % sel, "{{result}}")]),
          12, 8)
    b.add(panel("timeseries", "HTTP status", [prom("max(shipwatch_check_http_status_code{%s})" % sel, "status")]), 8, 6)
    b.add(panel("stat", "Certificate expires in",
                [prom("min(shipwatch_check_tls_expiry_timestamp_seconds{%s}) - time()" % sel)], "s"), 8, 6)
    b.add(panel("stat", "Owner in the cluster",
                [prom("max by (instance) (timestamp(shipwatch_check_last_run_timestamp_seconds{%s}) - shipwatch_check_last_run_timestamp_seconds{%s}) < 120" % (sel, sel), "{{instance}}")],
                description="Daemons that ran the check in the last two minutes",
                options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}}), 8, 6)
    b.add(panel("table", "Last failures (PostgreSQL)", [sql(
        "SELECT r.ts AS time, CASE r.outcome WHEN 2 THEN 'degraded' ELSE 'down' END AS outcome,\n"
        "       r.status, r.error, r.failed_condition, r.duration_us / 1000.0 AS ms\n"
        "FROM results r JOIN checks c ON c.id = r.check_id\n"
        "WHERE c.name = '$check' AND r.outcome IN (2, 3) AND r.ts BETWEEN $__from AND $__to\n"
        "ORDER BY r.ts DESC LIMIT 50", "table")], ds=PG), 12, 9)
    b.add(panel("logs", "Log lines of $check",
                [{"datasource": LOKI, "expr": '{service=~"shipwatchd.*", check="$check"}', "refId": "A"}],
                ds=LOKI), 12, 9)
    return b


def trends():
    b = Board("shipwatch-trends", "shipwatch: long-term trends",
              "Uptime by month and latency by day over a year, from the PostgreSQL day and hour "
              "rollups (kept storage.retention.rollups, 400 days by default).",
              time_from="now-1y", tags=["trends"])
    b.variables.append(query_var("check", "check",
                                 {"query": "SELECT name FROM checks ORDER BY name", "refId": "V"},
                                 ds=PG, multi=True))
    b.variables[-1]["definition"] = "SELECT name FROM checks ORDER BY name"
    b.add(panel("timeseries", "Uptime by month", [sql(
        "SELECT (extract(epoch FROM date_trunc('month', to_timestamp(d.bucket_ts / 1000.0) AT TIME ZONE 'UTC')) * 1000)::bigint AS time,\n"
        "       c.name AS metric,\n"
        "       1 - sum(d.failures)::float8 / nullif(sum(d.count), 0) AS value\n"
        "FROM rollups_day d JOIN checks c ON c.id = d.check_id\n"
        "WHERE d.bucket_ts BETWEEN $__from AND $__to AND c.name IN ($check)\n"
        "GROUP BY 1, 2 ORDER BY 1")], "percentunit", ds=PG,
                fieldConfig={"defaults": {"unit": "percentunit", "custom": {"drawStyle": "bars"}},
                             "overrides": []}), 12, 9)
    # Two hour rows a check, however long the range: each hour row carries
    # the check's running totals.
    b.add(panel("table", "Uptime over the range", [sql(
        "SELECT c.name AS check, l.total_count - f.before_count AS runs,\n"
        "       l.total_failures - f.before_failures AS failures,\n"
        "       round(100 * (1 - (l.total_failures - f.before_failures)::numeric\n"
        "             / nullif(l.total_count - f.before_count, 0)), 3) AS uptime_pct\n"
        "FROM checks c\n"
        "CROSS JOIN LATERAL (SELECT total_count - count AS before_count, total_failures - failures AS before_failures\n"
        "      FROM rollups_hour WHERE check_id = c.id AND bucket_ts >= $__from ORDER BY bucket_ts LIMIT 1) f\n"
        "CROSS JOIN LATERAL (SELECT total_count, total_failures FROM rollups_hour\n"
        "      WHERE check_id = c.id AND bucket_ts < $__to ORDER BY bucket_ts DESC LIMIT 1) l\n"
        "WHERE c.name IN ($check) ORDER BY uptime_pct, 1", "table")], ds=PG), 12, 9)
    b.add(panel("timeseries", "Latency by day: p95 (the day's worst hour)", [sql(
        "SELECT d.bucket_ts AS time, c.name AS metric, d.lat_p95_us / 1000.0 AS value\n"
        "FROM rollups_day d JOIN checks c ON c.id = d.check_id\n"
        "WHERE d.bucket_ts BETWEEN $__from AND $__to AND c.name IN ($check)\n"
        "ORDER BY 1")], "ms", ds=PG), 12, 9)
    b.add(panel("timeseries", "Latency by day: mean and worst", [sql(
        "SELECT d.bucket_ts AS time, c.name || ' mean' AS metric, d.lat_avg_us / 1000.0 AS value\n"
        "FROM rollups_day d JOIN checks c ON c.id = d.check_id\n"
        "WHERE d.bucket_ts BETWEEN $__from AND $__to AND c.name IN ($check)\n"
        "UNION ALL\n"
        "SELECT d.bucket_ts, c.name || ' max', d.lat_max_us / 1000.0\n"
        "FROM rollups_day d JOIN checks c ON c.id = d.check_id\n"
        "WHERE d.bucket_ts BETWEEN $__from AND $__to AND c.name IN ($check)\n"
        "ORDER BY 1")], "ms", ds=PG), 12, 9)
    b.add(panel("table", "Failures by month", [sql(
        "SELECT to_char(to_timestamp(d.bucket_ts / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,\n"
        "       c.name AS check, sum(d.count) AS runs, sum(d.failures) AS failures,\n"
        "       round((100 * (1 - sum(d.failures)::numeric / nullif(sum(d.count), 0))), 3) AS uptime_pct\n"
        "FROM rollups_day d JOIN checks c ON c.id = d.check_id\n"
        "WHERE d.bucket_ts BETWEEN $__from AND $__to AND c.name IN ($check)\n"
        "GROUP BY 1, 2 ORDER BY 1 DESC, 2", "table")], ds=PG), 12, 9)
    b.add(panel("table", "Deploys and verdicts", [sql(
        "SELECT started_ms AS time, app, env, version, status, verdict, verdict_reason, rollback_version\n"
        "FROM deploys WHERE started_ms BETWEEN $__from AND $__to\n"
        "ORDER BY started_ms DESC LIMIT 200", "table")], ds=PG), 12, 9)
    return b


def self_board():
    b = Board("shipwatch-self", "shipwatch: the daemons",
              "shipwatchd itself: scheduler, store queue and spool, notifications, HTTP, cluster.",
              tags=["self"])
    b.add(panel("timeseries", "Daemons up", [prom('up{job="shipwatchd"}', "{{instance}}")]), 8, 7)
    b.add(panel("timeseries", "Scheduler: oldest last run",
                [prom("max by (instance) (time() - shipwatch_check_last_run_timestamp_seconds{type!=\"heartbeat\"})",
                      "{{instance}}")], "s",
                description="Age of the stalest check's last run on each daemon: it grows when the scheduler falls behind."), 8, 7)
    b.add(panel("timeseries", "Checks run per second",
                [prom("sum by (instance) (rate(shipwatch_check_results_total[$__rate_interval]))", "{{instance}}")]), 8, 7)
    b.add(panel("timeseries", "Store queue", [prom("shipwatch_store_queue_length", "{{instance}}")]), 8, 7)
    b.add(panel("timeseries", "Store spool", [prom("shipwatch_store_spooled_bytes", "{{instance}}")], "bytes"), 8, 7)
    b.add(panel("timeseries", "Store up, write errors, drops",
                [prom("shipwatch_store_up", "up {{instance}}"),
                 prom("increase(shipwatch_store_write_errors_total[$__rate_interval])", "errors {{instance}}"),
                 prom("increase(shipwatch_store_dropped_total[$__rate_interval])", "dropped {{instance}}")]), 8, 7)
    b.add(panel("timeseries", "Notifications",
                [prom("sum by (notifier) (rate(shipwatch_notifications_sent_total[$__rate_interval]))", "sent {{notifier}}"),
                 prom("sum by (notifier) (rate(shipwatch_notifications_failed_total[$__rate_interval]))", "failed {{notifier}}")],
                "ops"), 8, 7)
    b.add(panel("timeseries", "HTTP",
                [prom("sum by (instance) (rate(shipwatch_http_requests_total[$__rate_interval]))", "requests {{instance}}"),
                 prom("shipwatch_http_connections", "open {{instance}}"),
                 prom("rate(shipwatch_http_timeouts_total[$__rate_interval])", "timeouts {{instance}}")]), 8, 7)
    b.add(panel("timeseries", "Cluster: leases held",
                [prom("shipwatch_cluster_checks_owned", "{{instance}}"),
                 prom("shipwatch_cluster_peers", "peers {{instance}}"),
                 prom("shipwatch_cluster_connected", "redis {{instance}}")]), 8, 7)
    b.add(panel("timeseries", "Cluster messages",
                [prom("sum by (result) (rate(shipwatch_cluster_messages_total[$__rate_interval]))", "{{result}}")],
                "ops"), 8, 7)
    b.add(panel("timeseries", "Memory", [prom("process_resident_memory_bytes{job=\"shipwatchd\"}", "{{instance}}")],
                "bytes"), 8, 7)
    b.add(panel("timeseries", "CPU", [prom("rate(process_cpu_seconds_total{job=\"shipwatchd\"}[$__rate_interval])",
                                           "{{instance}}")], "percentunit"), 8, 7)
    b.add(panel("timeseries", "Deploys judged",
                [prom("sum by (app, env, verdict) (increase(shipwatch_deploys_total[$__rate_interval]))",
                      "{{app}} {{env}} {{verdict}}")]), 12, 7)
    b.add(panel("logs", "shipwatchd log", [{"datasource": LOKI, "expr": '{service=~"shipwatchd.*"}', "refId": "A"}],
                ds=LOKI), 12, 7)
    return b


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
    os.makedirs(out, exist_ok=True)
    for name, make in (("fleet", fleet), ("check", check_detail), ("trends", trends), ("self", self_board)):
        with open(os.path.join(out, "shipwatch-%s.json" % name), "w", encoding="utf-8") as f:
            json.dump(make().json(), f, indent=2, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
