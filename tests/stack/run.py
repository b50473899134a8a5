#!/usr/bin/env python3
"""The production stack, brought up and tested for real.

    python3 tests/stack/run.py [--log FILE] [--offline-only] [--keep] [--no-package]

SHIPWATCH_STACK_TEST=offline in the environment is --offline-only.

Validates the compose, provisioning and dashboard files offline; then, when
Docker can run here (tests/stack/setup.sh installs docker.io and makes the
debian:bookworm-slim base with debootstrap), builds the images, brings the
stack up with tests/stack/offline.yml (Debian stand-ins for the upstream
images), asserts through nginx with TLS, runs every dashboard query against
Prometheus and PostgreSQL, and takes the stack down with its volumes.

Each assertion is one line of FILE in meson's testlog.json shape
({"name", "result", "duration"}), so scripts/tally.py counts them; the last
line printed is "N passed, N failed".
"""
import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "stack")
ENV_FILE = os.path.join(HERE, "test.env")
SERVICES = ["postgres", "redis", "shipwatchd", "shipwatchd-2", "prometheus", "alertmanager", "nginx"]
DS_UIDS = {"prometheus", "postgres", "loki"}


def load_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


ENV = load_env(ENV_FILE)


class Results:
    """Records each assertion and writes the testlog."""

    def __init__(self, log):
        self.log, self.rows = log, []

    def record(self, name, ok, detail="", started=None):
        dur = time.time() - started if started else 0.0
        self.rows.append({"name": "stack/" + name, "result": "OK" if ok else "FAIL",
                          "duration": round(dur, 2), "detail": detail[:2000]})
        print("%-4s %s%s" % ("ok" if ok else "FAIL", name, (": " + detail) if detail and not ok else ""),
              flush=True)
        if self.log:
            os.makedirs(os.path.dirname(os.path.abspath(self.log)), exist_ok=True)
            with open(self.log, "w", encoding="utf-8") as f:
                for r in self.rows:
                    f.write(json.dumps(r) + "\n")

    def check(self, name, fn):
        t = time.time()
        try:
            detail = fn()
            self.record(name, True, detail or "", t)
            return True
        except Exception as e:  # an assertion, a timeout, a command that failed
            self.record(name, False, "%s: %s" % (type(e).__name__, e), t)
            return False

    def summary(self):
        p = sum(1 for r in self.rows if r["result"] == "OK")
        return p, len(self.rows) - p


def run(cmd, check=True, capture=True, timeout=900, input_=None):
    r = subprocess.run(cmd, cwd=ROOT, text=True, input=input_, timeout=timeout,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None)
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), r.returncode, (r.stdout or "")[-3000:]))
    return r.stdout or ""


def compose(*args, **kw):
    return run(["docker-compose", "--env-file", ENV_FILE, "-f", "docker-compose.yml",
                "-f", "tests/stack/offline.yml", "--profile", "cluster"] + list(args), **kw)


def wait_for(what, fn, timeout, interval=2.0):
    """Call fn until it returns a true value; its last error in the message."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:
            last = e
        time.sleep(interval)
    raise TimeoutError("%s: not within %d s (last: %s)" % (what, timeout, last))


# ---------------------------------------------------------------- offline

def yaml_load(path):
    import yaml
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def dashboards():
    d = os.path.join(ROOT, "deploy", "grafana", "dashboards")
    out = {}
    for name in sorted(os.listdir(d)):
        if name.endswith(".json"):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                out[name] = json.load(f)
    return out


def targets(board):
    """Every query of a dashboard: (where, datasource uid, target)."""
    for a in board.get("annotations", {}).get("list", []):
        if "target" in a:
            yield "annotation " + a["name"], a["datasource"]["uid"], a["target"]
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]
            yield "variable " + v["name"], v["datasource"]["uid"], q if isinstance(q, dict) else {"expr": q}
    for p in board["panels"]:
        for t in p.get("targets", []):
            uid = (t.get("datasource") or p["datasource"])["uid"]
            yield "panel %r %s" % (p["title"], t["refId"]), uid, t


def offline_checks(res):
    def compose_config():
        out = run(["docker-compose", "--env-file", os.path.join(ROOT, ".env.example"),
                   "-f", "docker-compose.yml", "--profile", "cluster", "config"])
        if re.search(r"^version:", open(os.path.join(ROOT, "docker-compose.yml")).read(), re.M):
            raise AssertionError("docker-compose.yml has a version: key")
        return "%d bytes" % len(out)

    def env_example_complete():
        text = open(os.path.join(ROOT, "docker-compose.yml")).read()
        used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
        example = set(load_env(os.path.join(ROOT, ".env.example")))
        missing = sorted(used - example)
        if missing:
            raise AssertionError(".env.example lacks " + ", ".join(missing))
        missing = sorted(used - set(ENV))
        if missing:
            raise AssertionError("tests/stack/test.env lacks " + ", ".join(missing))

    def override_only_standins():
        over = yaml_load(os.path.join(HERE, "offline.yml"))["services"]
        for name, svc in over.items():
            if set(svc) - {"build", "image"}:
                raise AssertionError("%s: the override may replace build and image only" % name)

    def prometheus_config():
        run(["promtool", "check", "config", "deploy/prometheus/prometheus.yml"])

    def alertmanager_config():
        if shutil.which("amtool"):
            run(["amtool", "check-config", "deploy/alertmanager/alertmanager.yml"])

    def provisioning():
        ds = yaml_load(os.path.join(ROOT, "deploy/grafana/provisioning/datasources/shipwatch.yml"))
        uids = {d["uid"]: d["type"] for d in ds["datasources"]}
        if uids != {"prometheus": "prometheus", "postgres": "postgres", "loki": "loki"}:
            raise AssertionError("datasources: %r" % uids)
        prov = yaml_load(os.path.join(ROOT, "deploy/grafana/provisioning/dashboards/shipwatch.yml"))
        path = prov["providers"][0]["options"]["path"]
        mounts = yaml_load(os.path.join(ROOT, "docker-compose.yml"))["services"]["grafana"]["volumes"]
        if not any(m.endswith(":" + path + ":ro") for m in mounts):
            raise AssertionError("dashboards path %s is not mounted" % path)
        n = 0
        for name, b in dashboards().items():
            for where, uid, t in targets(b):
                if uid not in DS_UIDS:
                    raise AssertionError("%s %s: unknown datasource %s" % (name, where, uid))
                n += 1
            for p in b["panels"]:
                if p["type"] == "timeseries" and not b["annotations"]["list"]:
                    raise AssertionError("%s: no deploy annotations" % name)
        return "%d queries" % n

    def dashboards_current():
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(ROOT, "deploy", "grafana"), os.path.join(tmp, "g"))
            run([sys.executable, os.path.join(tmp, "g", "dashboards.py")])
            for name in os.listdir(os.path.join(tmp, "g", "dashboards")):
                a = open(os.path.join(tmp, "g", "dashboards", name)).read()
                b = open(os.path.join(ROOT, "deploy", "grafana", "dashboards", name)).read()
                if a != b:
                    raise AssertionError("%s differs from what dashboards.py makes" % name)

    res.check("offline/compose-config", compose_config)
    res.check("offline/env-example-complete", env_example_complete)
    res.check("offline/override-replaces-images-only", override_only_standins)
    res.check("offline/prometheus-config", prometheus_config)
    res.check("offline/alertmanager-config", alertmanager_config)
    res.check("offline/grafana-provisioning", provisioning)
    res.check("offline/dashboards-generated", dashboards_current)


# ---------------------------------------------------------------- live

class Stack:
    def __init__(self):
        self.https = "https://localhost:%s" % ENV["HTTPS_PORT"]
        self.prom = "http://127.0.0.1:%s" % ENV["PROMETHEUS_PORT"]
        self.am = "http://127.0.0.1:%s" % ENV["ALERTMANAGER_PORT"]
        self.tls = None

    def http(self, method, url, body=None, headers=None, tls=False):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        ctx = self.tls if tls else None
        try:
            with urllib.request.urlopen(req, timeout=15, context=ctx) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def promql(self, expr):
        url = self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = self.http("GET", url)
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise AssertionError("%s: %s %s" % (expr, status, body[:300]))
        return doc["data"]["result"]

    def sql(self, query):
        return compose("exec", "-T", "-e", "PGPASSWORD=" + ENV["POSTGRES_PASSWORD"], "postgres",
                       "psql", "-h", "127.0.0.1", "-v", "ON_ERROR_STOP=1", "-At",
                       "-U", ENV["POSTGRES_USER"], "-d", ENV["POSTGRES_DB"], "-f", "-",
                       input_=query, timeout=60)

    def metrics(self, service):
        return compose("exec", "-T", service, "curl", "-fsS", "-m", "5", "http://127.0.0.1:9321/metrics",
                       timeout=30)


def metric_value(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return None


def expand_promql(expr, var):
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
    for k, v in var.items():
        expr = expr.replace("$" + k, v)
    return expr


def expand_sql(query, var, frm, to):
    query = query.replace("$__from", str(frm)).replace("$__to", str(to))
    query = re.sub(r"\$__timeFilter\((\w+)\)",
                   lambda m: "%s BETWEEN to_timestamp(%d) AND to_timestamp(%d)" % (m.group(1), frm // 1000, to // 1000),
                   query)
    for k, v in var.items():
        query = query.replace("$" + k, v)
    if "$" in query.replace("$$", ""):
        raise AssertionError("unexpanded macro in: " + query)
    return query


# Families that exist only after an event the test does not cause: their
# queries must run without error, but may return nothing.
MAY_BE_EMPTY = re.compile(r"failed|dropped|write_errors|timeouts|tls_expiry|http_status_code|ALERTS|"
                          r"deploys_total|ratio_30d|ratio_1d|spooled|app_uptime|rate\(shipwatch_check_duration")


def live_checks(res, keep):
    st = Stack()
    up_started = time.time()

    def build():
        # A run that was interrupted may have left its stack behind.
        compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        compose("build", "--force-rm", timeout=1500)

    if not res.check("live/build-images", build):
        return

    def up():
        compose("up", "-d", *SERVICES, timeout=600)
        wait_for("every service healthy", lambda: all_healthy(), 240, 3)
        return "up in %.0f s" % (time.time() - up_started)

    def all_healthy():
        ids = compose("ps", "-q").split()
        states = []
        for cid in ids:
            s = run(["docker", "inspect", "-f", "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", cid]).strip()
            states.append(s)
        bad = [s for s in states if not s.endswith(" running healthy")]
        if bad:
            raise AssertionError("; ".join(bad))
        return len(states) == len(SERVICES)

    try:
        if not res.check("live/up-and-healthy", up):
            print(compose("ps", check=False))
            print(compose("logs", "--tail", "40", check=False)[-8000:])
            return
        up_seconds = time.time() - up_started

        def tls_setup():
            cert = compose("exec", "-T", "nginx", "cat", "/etc/nginx/certs/tls.crt")
            ctx = ssl.create_default_context(cadata=cert)
            ctx.check_hostname = True
            st.tls = ctx
            status, body = st.http("GET", st.https + "/metrics", tls=True)
            if status != 404:
                raise AssertionError("/metrics through nginx: %d" % status)
            status, body = st.http("GET", st.https + "/healthz", tls=True)
            if status != 404:
                raise AssertionError("/healthz through nginx: %d" % status)
            return "self-signed certificate verified; /metrics and /healthz are 404 outside"

        if not res.check("live/nginx-tls-and-only-public-routes", tls_setup):
            return

        def github_deploy():
            body = json.dumps({
                "deployment": {"id": 424242, "sha": "1b7d0aa", "ref": "main", "environment": "prod",
                               "creator": {"login": "ana"}, "payload": {"version": "2.14.1"}},
                "repository": {"full_name": "acme/shop", "name": "shop"}}).encode()
            sig = "sha256=" + hmac.new(ENV["SHIPWATCH_GITHUB_SECRET"].encode(), body, hashlib.sha256).hexdigest()
            h = {"Content-Type": "application/json", "X-GitHub-Event": "deployment",
                 "X-GitHub-Delivery": "stacktest-1"}
            status, text = st.http("POST", st.https + "/webhooks/github", body, dict(h, **{"X-Hub-Signature-256": "sha256=" + "0" * 64}), tls=True)
            if status != 401:
                raise AssertionError("a bad signature: %d %s" % (status, text))
            status, text = st.http("POST", st.https + "/webhooks/github", body, dict(h, **{"X-Hub-Signature-256": sig}), tls=True)
            if status not in (200, 201):
                raise AssertionError("signed deployment: %d %s" % (status, text))
            row = wait_for("the deploy in PostgreSQL", lambda: st.sql(
                "SELECT app, env, version, source, status FROM deploys WHERE ext_id IS NOT NULL OR source = 'github';").strip(), 30)
            if "shop|prod|2.14.1|github|started" not in row:
                raise AssertionError("deploys: %r" % row)
            # A bearer-token deploy through the same door, and one refused.
            body2 = json.dumps({"app": "shop", "env": "prod", "version": "2.14.2"}).encode()
            status, text = st.http("POST", st.https + "/api/v1/deploys", body2,
                                   {"Content-Type": "application/json", "Authorization": "Bearer wrong"}, tls=True)
            if status != 401:
                raise AssertionError("wrong token: %d" % status)
            status, text = st.http("POST", st.https + "/api/v1/deploys", body2,
                                   {"Content-Type": "application/json",
                                    "Authorization": "Bearer " + ENV["SHIPWATCH_DEPLOY_TOKEN"]}, tls=True)
            if status != 201:
                raise AssertionError("token deploy: %d %s" % (status, text))
            return row

        res.check("live/github-deploy-recorded", github_deploy)

        def heartbeat():
            status, text = st.http("POST", st.https + "/ping/" + ENV["SHIPWATCH_HEARTBEAT_TOKEN"], b"", tls=True)
            if status != 200:
                raise AssertionError("/ping/: %d %s" % (status, text))
            status, text = st.http("GET", st.https + "/hb/" + ENV["SHIPWATCH_HEARTBEAT_TOKEN"], tls=True)
            if status != 200:
                raise AssertionError("/hb/: %d %s" % (status, text))
            status, _ = st.http("GET", st.https + "/ping/not-a-token", tls=True)
            if status != 404:
                raise AssertionError("unknown token: %d" % status)
            return wait_for("the heartbeat in PostgreSQL", lambda: st.sql(
                "SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id "
                "WHERE c.name = 'nightly-backup' AND r.outcome = 1;").strip() not in ("", "0") and "landed", 30)

        res.check("live/heartbeat-ping-lands", heartbeat)

        def rate_limit():
            codes = []
            for _ in range(40):
                codes.append(st.http("POST", st.https + "/api/v1/deploys", b"{}",
                                     {"Content-Type": "application/json"}, tls=True)[0])
            if 429 not in codes:
                raise AssertionError("40 requests at once, no 429: %r" % sorted(set(codes)))
            big = b"x" * (2 * 1024 * 1024)
            status, _ = st.http("POST", st.https + "/api/v1/deploys", big,
                                {"Content-Type": "application/json"}, tls=True)
            if status != 413:
                raise AssertionError("a 2 MiB body: %d" % status)
            return "%d of 40 limited" % codes.count(429)

        res.check("live/nginx-rate-and-size-limits", rate_limit)

        def results_in_postgres():
            n = wait_for("results", lambda: int(st.sql("SELECT count(*) FROM results;").strip() or 0) > 20 and
                         st.sql("SELECT count(*) FROM results;").strip(), 60)
            states = st.sql("SELECT c.name, s.state FROM check_state s JOIN checks c ON c.id = s.check_id ORDER BY 1;")
            for name in ("prometheus", "alertmanager", "postgres", "redis", "nginx", "shop-web"):
                if "%s|1" % name not in states.split():
                    raise AssertionError("check %s not up in check_state: %r" % (name, states))
            return "%s results" % n

        res.check("live/results-in-postgresql", results_in_postgres)

        def scraped():
            def both():
                r = st.promql('up{job="shipwatchd"} == 1')
                return len(r) == 2 and r
            wait_for("both daemons scraped", both, 90, 3)
            r = st.promql("sum(shipwatch_check_results_total)")
            if not r or float(r[0]["value"][1]) <= 0:
                raise AssertionError("no results counted")
            return "2 targets up"

        res.check("live/prometheus-scrapes-shipwatchd", scraped)

        def owned(service):
            return metric_value(st.metrics(service), "shipwatch_cluster_checks_owned") or 0

        def cluster_shares():
            def shared():
                a, b = owned("shipwatchd"), owned("shipwatchd-2")
                return a + b >= 6 and (a, b)
            a, b = wait_for("leases taken", shared, 60)
            return "leases %d + %d" % (a, b)

        res.check("live/cluster-shares-checks", cluster_shares)
        total = [owned("shipwatchd") + owned("shipwatchd-2")]

        def grafana_queries():
            # Template variables from the running stack.
            labels = st.promql('max by (app, env, check) (shipwatch_check_state{app="shop"})')
            l0 = next(x["metric"] for x in labels if x["metric"].get("check") == "shop-web")
            var = {"app": l0["app"], "env": l0["env"], "check": l0["check"]}
            names = [n for n in st.sql("SELECT name FROM checks ORDER BY name;").split() if n]
            to = int(time.time() * 1000)
            frm = to - 365 * 86400 * 1000
            n_prom = n_sql = 0
            problems = []
            for file, b in dashboards().items():
                multi = {v["name"] for v in b["templating"]["list"] if v.get("multi")}
                for where, uid, t in targets(b):
                    try:
                        if uid == "prometheus":
                            expr = t["expr"]
                            if where.startswith("variable"):
                                m = re.match(r"label_values\((.*),\s*(\w+)\)$", expr)
                                expr = m.group(1) if m else expr
                            r = st.promql(expand_promql(expr, var))
                            n_prom += 1
                            if not r and not MAY_BE_EMPTY.search(t["expr"]):
                                problems.append("%s %s: no data for %s" % (file, where, t["expr"]))
                        elif uid == "postgres":
                            sv = dict(var)
                            for m in multi:
                                sv[m] = ",".join("'%s'" % n for n in names)
                            for k in ("check", "app", "env"):
                                if k not in multi:
                                    sv[k] = var[k]
                            q = t.get("rawSql") or t.get("query")
                            out = st.sql(expand_sql(q, sv, frm, to) + ";")
                            n_sql += 1
                            if where.startswith("annotation") and not out.strip():
                                problems.append("%s %s: no deploys" % (file, where))
                            if where.startswith("variable") and not out.strip():
                                problems.append("%s %s: no checks" % (file, where))
                    except Exception as e:
                        problems.append("%s %s: %s" % (file, where, e))
            if problems:
                raise AssertionError("; ".join(problems))
            return "%d PromQL and %d SQL queries" % (n_prom, n_sql)


        def target_down_fires():
            compose("pause", "shipwatchd-2")
            try:
                def firing():
                    r = st.promql('ALERTS{alertname="ShipwatchdDown", alertstate="firing"}')
                    return r
                wait_for("ShipwatchdDown firing in Prometheus", firing, 180, 5)

                def received():
                    status, body = st.http("GET", st.am + "/api/v2/alerts?" +
                                           urllib.parse.urlencode({"filter": 'alertname="ShipwatchdDown"'}))
                    return status == 200 and json.loads(body)
                alerts = wait_for("ShipwatchdDown in Alertmanager", received, 60, 3)
                # The paused daemon renews no lease: the other one takes them.
                wait_for("leases moved to shipwatchd", lambda: owned("shipwatchd") >= total[0], 90, 3)
                return "%d alert(s) in Alertmanager; shipwatchd holds %d leases" % (len(alerts), owned("shipwatchd"))
            finally:
                compose("unpause", "shipwatchd-2", check=False)

        res.check("live/target-down-rule-fires-alertmanager-receives", target_down_fires)

        def enough_samples():
            # rate() and the 1m recording rules need two samples in a window.
            wait_for("rates in Prometheus", lambda: st.promql(
                'sum(rate(shipwatch_check_results_total[1m])) > 0'), 120, 5)
            wait_for("the uptime recording rule", lambda: st.promql("shipwatch:check_uptime:ratio_1h"), 120, 5)

        res.check("live/grafana-queries-run", lambda: enough_samples() or grafana_queries())

        def stop_moves_checks():
            compose("stop", "shipwatchd-2")
            wait_for("every lease on shipwatchd", lambda: owned("shipwatchd") >= total[0], 60, 2)
            # And the checks still run: results keep coming from shipwatchd-1.
            before = st.sql("SELECT count(*) FROM results;").strip()
            time.sleep(5)
            after = st.sql("SELECT count(*) FROM results;").strip()
            if int(after) <= int(before):
                raise AssertionError("no new results after the stop (%s, %s)" % (before, after))
            return "%d leases on shipwatchd" % owned("shipwatchd")

        res.check("live/stopping-a-daemon-moves-its-checks", stop_moves_checks)

        def socket_dashboard():
            out = compose("exec", "-T", "shipwatchd", "shipwatch", "status", timeout=30)
            if "prometheus" not in out and "checks" not in out:
                raise AssertionError(out[:500])
            return out.splitlines()[0] if out else ""

        res.check("live/compose-exec-shipwatch-client", socket_dashboard)
        print("stack: up and healthy in %.0f s" % up_seconds)
    finally:
        if not keep:
            def down():
                compose("--profile", "cluster", "down", "-v", "--remove-orphans", timeout=300)
                project = ENV["COMPOSE_PROJECT_NAME"]
                left = run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=" + project]).split()
                vols = run(["docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project=" + project]).split()
                nets = run(["docker", "network", "ls", "-q", "--filter", "label=com.docker.compose.project=" + project]).split()
                if left or vols or nets:
                    raise AssertionError("left behind: containers %r volumes %r networks %r" % (left, vols, nets))
            res.check("live/down-leaves-nothing", down)


def package_checks(res, outdir):
    """dpkg-buildpackage -b, lintian without errors, then the .deb in a clean
    container: installed with its dependencies, --check-config, started."""
    deb = []

    def build():
        out = run(["sh", os.path.join(HERE, "package.sh"), outdir], timeout=900)
        deb.append(out.strip().splitlines()[-1])
        tags = [l for l in out.splitlines() if re.match(r"^[EWIPX]: ", l)]
        return "%s; lintian: %s" % (os.path.basename(deb[0]), "; ".join(tags) or "no tags")

    if not res.check("package/build-and-lintian", build):
        return

    def install():
        script = (
            "set -e; apt-get update -q >/dev/null; "
            "apt-get install -y -q --no-install-recommends /pkg/%s curl >/dev/null; "
            "id shipwatch; test -f /etc/shipwatch/shipwatch.yml; "
            "test -f /lib/systemd/system/shipwatchd.service; "
            "test -f /usr/lib/sysusers.d/shipwatch.conf; test -f /usr/lib/tmpfiles.d/shipwatch.conf; "
            "test -f /usr/share/man/man8/shipwatchd.8.gz; "
            "grep -q '^ExecStart=/usr/sbin/shipwatchd ' /lib/systemd/system/shipwatchd.service; "
            "setpriv --reuid shipwatch --regid shipwatch --init-groups shipwatchd --check-config; "
            "setpriv --reuid shipwatch --regid shipwatch --init-groups "
            "  shipwatchd --config /etc/shipwatch/shipwatch.yml --log-format text >/tmp/d.log 2>&1 & pid=$!; "
            "for i in $(seq 50); do curl -fsS http://127.0.0.1:9321/healthz >/dev/null 2>&1 && break; sleep 0.2; done; "
            "curl -fsS http://127.0.0.1:9321/healthz; echo; "
            "setpriv --reuid shipwatch --regid shipwatch --init-groups shipwatch status | head -3; "
            "kill $pid; wait $pid || { cat /tmp/d.log; exit 1; }; "
            "test -f /var/lib/shipwatch/history.db; echo started-and-stopped"
        ) % os.path.basename(deb[0])
        out = run(["docker", "run", "--rm", "-v", os.path.dirname(deb[0]) + ":/pkg:ro",
                   "debian:bookworm-slim", "sh", "-c", script], timeout=600)
        if "started-and-stopped" not in out:
            raise AssertionError(out[-2000:])
        return "; ".join(l for l in out.splitlines() if ": ok: " in l or l.startswith("shipwatchd "))

    res.check("package/installs-and-runs-in-a-clean-container", install)


def stop_dockerd(pidfile, keep):
    """Stop the dockerd that setup.sh started for this run, if it did."""
    if keep or not os.path.exists(pidfile):
        return
    with open(pidfile) as f:
        pid = int(f.read().strip())
    os.unlink(pidfile)
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", default=os.path.join(ROOT, "build-stack", "testlog.json"))
    ap.add_argument("--offline-only", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    ap.add_argument("--no-package", action="store_true", help="skip the Debian package")
    args = ap.parse_args()
    # A CI runner whose Docker daemon cannot see this tree at the same path
    # (a job container using the host's socket) runs the offline part only.
    if os.environ.get("SHIPWATCH_STACK_TEST") == "offline":
        args.offline_only = True
    res = Results(args.log)
    started = time.time()
    # docker-compose and python3-yaml: the offline checks need them too.
    run(["sh", os.path.join(HERE, "setup.sh"), "--packages-only"], capture=False, timeout=900)
    offline_checks(res)
    if not args.offline_only:
        t = time.time()
        logdir = os.path.dirname(os.path.abspath(args.log))
        os.makedirs(logdir, exist_ok=True)
        os.environ["STACK_LOG_DIR"] = logdir
        pidfile = os.path.join(logdir, "dockerd.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        try:
            run(["sh", os.path.join(HERE, "setup.sh")], capture=False, timeout=1200)
            res.record("live/docker-available", True, "", t)
        except Exception as e:
            res.record("live/docker-available", False, str(e), t)
        else:
            live_checks(res, args.keep)
            if not args.no_package:
                package_checks(res, os.path.join(logdir, "package"))
        stop_dockerd(pidfile, args.keep)
    p, f = res.summary()
    print("stack test: %.0f s" % (time.time() - started))
    print("%d passed, %d failed" % (p, f))
    return 0 if f == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
