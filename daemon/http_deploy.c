/* http_deploy.c - the routes that record deploys: POST /api/v1/deploys
 * (bearer token or signed body) and POST /webhooks/github (deployment and
 * deployment_status events); see docs/http.md. */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "github.h"
#include "http_int.h"
#include "recent.h"
#include "sign.h"
#include "store.h"
#include "utf8.h"

/* Constant-time comparison of two strings. */
static bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* Whether header ("sha256=HEX") is the HMAC-SHA256 of stamp, a dot and
 * the body with secret (stamp NULL: of the body alone, as GitHub signs);
 * compared in constant time, hex digits in either case. */
bool http_body_signed(const struct hconn *c, const char *header, const char *secret,
                      const char *stamp)
{
    if (strncmp(header, "sha256=", 7) != 0) {
        return false;
    }
    /* "STAMP." then the body, hashed in two steps without a copy. */
    char head[32];
    int hlen = stamp != NULL ? snprintf(head, sizeof(head), "%s.", stamp) : 0;
    char want[SIGN_HEX_LEN + 1];
    if (hlen < 0 || (size_t)hlen >= sizeof(head) ||
        sign_hex(secret, head, (size_t)hlen, c->body, c->body_len, want) < 0) {
        return false;
    }
    return sign_hex_equal(want, header + 7, strlen(header + 7));
}

/* Whether the request carries token as a bearer token, or is signed with
 * secret together with its X-Shipwatch-Timestamp (either may be NULL). */
static bool credentials_match(const struct hconn *c, const char *token, const char *secret)
{
    if (c->hdr_set[H_AUTHORIZATION] && token != NULL &&
        strncasecmp(c->hdr[H_AUTHORIZATION], "Bearer ", 7) == 0 &&
        secret_equal(c->hdr[H_AUTHORIZATION] + 7, token)) {
        return true;
    }
    return c->hdr_set[H_SIGNATURE] && c->hdr_set[H_TIMESTAMP] && secret != NULL &&
           http_body_signed(c, c->hdr[H_SIGNATURE], secret, c->hdr[H_TIMESTAMP]);
}

/* The signed timestamp (unix seconds) in ms when it is within the window
 * of now; -1 when it is missing, malformed or stale. */
static int64_t signed_stamp_ms(const struct hconn *c, int64_t now_ms)
{
    const char *t = c->hdr[H_TIMESTAMP];
    if (!c->hdr_set[H_TIMESTAMP] || t[0] < '0' || t[0] > '9' || strlen(t) > 12) {
        return -1;
    }
    char *end;
    int64_t ms = (int64_t)strtoll(t, &end, 10) * 1000;
    if (*end != '\0' || ms < now_ms - SIGNATURE_WINDOW_MS || ms > now_ms + SIGNATURE_WINDOW_MS) {
        return -1;
    }
    return ms;
}

#define NO_CREDENTIALS                                                                    \
    "a deploy needs its app's deploy-token (or daemon.deploy-token) as a bearer token, or "  \
    "an X-Shipwatch-Signature-256 of X-Shipwatch-Timestamp and the body made with its "      \
    "deploy-secret (or daemon.deploy-secret)"

/* Whether token is any app's deploy-token or the daemon's; every one is
 * compared, in constant time, so the answer takes as long either way. */
static bool some_token_is(const struct config *conf, const char *token)
{
    bool found = conf->daemon.deploy_token != NULL && secret_equal(token, conf->daemon.deploy_token);
    for (size_t i = 0; i < conf->napps; i++) {
        if (conf->apps[i].deploy_token != NULL && secret_equal(token, conf->apps[i].deploy_token)) {
            found = true;
        }
    }
    return found;
}

/* Before the body: a bearer token must be someone's; a signature needs its
 * timestamp (which must be within the window); anything else has no
 * credential at all. The body is read only for what may be authorized. */
const char *http_deploy_refused_early(const struct hconn *c)
{
    if (c->hdr_set[H_SIGNATURE]) {
        if (!c->hdr_set[H_TIMESTAMP]) {
            return NO_CREDENTIALS;
        }
        if (signed_stamp_ms(c, daemon_now_ms()) < 0) {
            return "X-Shipwatch-Timestamp is not within 300 s of now";
        }
        return NULL;
    }
    if (c->hdr_set[H_AUTHORIZATION] && strncasecmp(c->hdr[H_AUTHORIZATION], "Bearer ", 7) == 0 &&
        some_token_is(c->srv->d->conf, c->hdr[H_AUTHORIZATION] + 7)) {
        return NULL;
    }
    return NO_CREDENTIALS;
}

/* Whether the request may record a deploy of app (NULL: an app not in the
 * configuration): the app's own credentials, or the daemon-wide ones. A
 * signature must come with a timestamp within the window and not have been
 * used before; why says what failed, the same whether app exists or not. */
static bool deploy_authorized(struct hconn *c, const struct conf_app *app, const char **why)
{
    const struct config *conf = c->srv->d->conf;
    *why = NULL;
    if (!(app != NULL && credentials_match(c, app->deploy_token, app->deploy_secret)) &&
        !credentials_match(c, conf->daemon.deploy_token, conf->daemon.deploy_secret)) {
        return false;
    }
    if (c->hdr_set[H_AUTHORIZATION] && strncasecmp(c->hdr[H_AUTHORIZATION], "Bearer ", 7) == 0 &&
        !c->hdr_set[H_SIGNATURE]) {
        return true;
    }
    int64_t now = daemon_now_ms();
    int64_t stamp = signed_stamp_ms(c, now);
    if (stamp < 0) {
        *why = "X-Shipwatch-Timestamp is not within 300 s of now";
        return false;
    }
    if (!recent_claim(c->srv->signatures, c->hdr[H_SIGNATURE], stamp, now)) {
        *why = "this signature was used already: sign each request anew";
        return false;
    }
    return true;
}

/* A string member of o into *out (NULL when absent). false after
 * answering 400 when it is there but not a string. */
static bool str_member(struct hconn *c, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v)) {
        http_respond_error(c, 400, NULL, "%s: expected a string", key);
        return false;
    }
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v)) {
        http_respond_error(c, 400, NULL, "%s: contains a NUL character", key);
        return false;
    }
    return true;
}

/* started_at / finished_at: RFC 3339 text or unix seconds. */
static bool time_member(struct hconn *c, json_t *o, const char *key, int64_t *ms)
{
    json_t *v = json_object_get(o, key);
    *ms = 0;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = (int64_t)json_integer_value(v) * 1000;
        return true;
    }
    if (json_is_string(v) && civil_parse_rfc3339(json_string_value(v), ms) == 0 && *ms >= 0) {
        return true;
    }
    http_respond_error(c, 400, NULL, "%s: expected an RFC 3339 time or unix seconds", key);
    return false;
}

/* A deploy waiting for the lookup of its id among the stored ones. */
struct deploy_req {
    struct hconn *c;
    json_t *doc;                /* owns the strings dep points to */
    struct deploy dep;
    char delivery[RECENT_KEY_MAX + 1];  /* the GitHub delivery, forgotten on failure */
    struct deploy_req *prev, *next;
};

static void deploy_req_free(struct http_server *s, struct deploy_req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        s->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    json_decref(r->doc);
    http_conn_unref(r->c);
    free(r);
}

static void deploy_answer(struct hconn *c, const struct deploy *dep, int status)
{
    http_respond_json(c, status,
                 json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)dep->id, "app",
                           dep->app, "env", dep->env, "version", dep->version, "status",
                           dep->status),
                 NULL);
}

/* The store's answer for r's id: record r's deploy, new or as an update
 * of the deploy found (the one this daemon recorded lately comes first). */
static void on_deploy_lookup(int err, const struct deploy *found, size_t n, void *arg)
{
    struct deploy_req *r = arg;
    struct hconn *c = r->c;
    int rc = -ECANCELED;        /* the client went away: nothing recorded */
    if (c->open) {
        char why[256];
        const struct deploy *stored = deploy_recent(c->srv->d, r->dep.ext_id);
        if (stored == NULL && err < 0) {
            rc = err;
            http_respond_error(c, 503, NULL, "the store cannot be read: %s", strerror(-err));
            goto done;
        }
        if (stored == NULL && n > 0) {
            stored = &found[0];
        }
        /* The same id again: update that deploy, forward only. */
        enum deploy_outcome outcome;
        rc = deploy_upsert(c->srv->d, &r->dep, stored, &outcome, why, sizeof(why));
        if (rc < 0) {
            http_respond_error(c, rc == -EINVAL ? 400 : rc == -EEXIST ? 409 : 503, NULL, "%s", why);
        } else {
            deploy_answer(c, &r->dep, outcome == DEPLOY_CREATED ? 201 : 200);
        }
    }
done:
    if (rc < 0 && r->delivery[0] != '\0') {
        recent_forget(c->srv->deliveries, r->delivery);
    }
    deploy_req_free(c->srv, r);
}

static void record_deploy(struct hconn *c, json_t *doc, const struct deploy *dep,
                          const char *delivery);

/* POST /api/v1/deploys: a deploy as JSON, authorized by its app's
 * deploy-token or deploy-secret once the body names the app. */
void http_route_deploys(struct hconn *c, const char *rest)
{
    (void)rest;
    struct daemon *d = c->srv->d;
    if (!c->hdr_set[H_CONTENT_TYPE] ||
        strncasecmp(c->hdr[H_CONTENT_TYPE], "application/json", 16) != 0) {
        http_respond_error(c, 415, NULL, "expected Content-Type: application/json");
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(c->body != NULL ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES,
                             &jerr);
    if (doc == NULL) {
        http_respond_error(c, 400, NULL, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_respond_error(c, 400, NULL, "expected a JSON object");
        return;
    }
    struct deploy dep = {.source = "api"};
    const char *source = NULL;
    if (!str_member(c, doc, "app", &dep.app) || !str_member(c, doc, "env", &dep.env) ||
        !str_member(c, doc, "version", &dep.version) ||
        !str_member(c, doc, "commit", &dep.commit) ||
        !str_member(c, doc, "author", &dep.author) || !str_member(c, doc, "url", &dep.url) ||
        !str_member(c, doc, "status", &dep.status) ||
        !str_member(c, doc, "description", &dep.description) ||
        !str_member(c, doc, "id", &dep.ext_id) || !str_member(c, doc, "source", &source) ||
        !str_member(c, doc, "ref", &dep.ref) ||
        !time_member(c, doc, "started_at", &dep.started_ms) ||
        !time_member(c, doc, "finished_at", &dep.finished_ms)) {
        json_decref(doc);
        return;
    }
    if (source != NULL) {
        dep.source = source;
    }
    char why[256];
    if (deploy_validate(&dep, why, sizeof(why)) < 0) {
        http_respond_error(c, 400, NULL, "%s", why);
        json_decref(doc);
        return;
    }
    const struct conf_app *app = config_find_app(d->conf, dep.app);
    /* Credentials first: an app that does not exist and a wrong token get
     * the same answer, so app names cannot be probed. dep's strings live in
     * doc: answer before letting it go. */
    const char *refused;
    if (!deploy_authorized(c, app, &refused)) {
        http_respond_error(c, 401, "WWW-Authenticate: Bearer\r\n", "%s",
                      refused != NULL ? refused : NO_CREDENTIALS);
        json_decref(doc);
        return;
    }
    if (app == NULL && !d->conf->daemon.auto_register_apps) {
        http_respond_error(c, 404, NULL, "no app named %s in the configuration", dep.app);
        json_decref(doc);
        return;
    }
    record_deploy(c, doc, &dep, NULL);
}

/* Record dep (its strings in doc, which passes to this call): a new deploy,
 * or, when its ext_id is known already, an update of that one; delivery
 * (or NULL) is forgotten if it fails. */
static void record_deploy(struct hconn *c, json_t *doc, const struct deploy *depp,
                          const char *delivery)
{
    struct daemon *d = c->srv->d;
    struct deploy dep = *depp;
    struct deploy_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        json_decref(doc);
        http_respond_error(c, 500, NULL, "out of memory");
        return;
    }
    r->c = c;
    r->doc = doc;
    r->dep = dep;
    snprintf(r->delivery, sizeof(r->delivery), "%s", delivery != NULL ? delivery : "");
    c->refs++;
    r->next = c->srv->reqs;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    c->srv->reqs = r;
    if (dep.ext_id == NULL || deploy_recent(d, dep.ext_id) != NULL) {
        on_deploy_lookup(0, NULL, 0, r);
        return;
    }
    struct store_deploy_query q = {.ext_id = dep.ext_id, .limit = 1};
    int rc = store_deploys(d->store, &q, on_deploy_lookup, r);
    if (rc < 0) {
        on_deploy_lookup(rc, NULL, 0, r);
    }
}

/* The app of a repository: the one whose github-repo is its full name, else
 * the one named as the repository. */
static const struct conf_app *app_of_repo(const struct config *conf, const char *full,
                                          const char *name)
{
    for (size_t i = 0; full != NULL && i < conf->napps; i++) {
        if (conf->apps[i].github_repo != NULL && strcmp(conf->apps[i].github_repo, full) == 0) {
            return &conf->apps[i];
        }
    }
    return name != NULL ? config_find_app(conf, name) : NULL;
}

/* POST /webhooks/github: deployment and deployment_status events
 * (github.c reads them); a delivery handled already is answered again
 * without being recorded again. */
void http_route_github(struct hconn *c, const char *rest)
{
    (void)rest;
    struct daemon *d = c->srv->d;
    if (!c->hdr_set[H_CONTENT_TYPE] ||
        strncasecmp(c->hdr[H_CONTENT_TYPE], "application/json", 16) != 0) {
        http_respond_error(c, 415, NULL, "set the webhook's content type to application/json");
        return;
    }
    const char *event = c->hdr_set[H_GITHUB_EVENT] ? c->hdr[H_GITHUB_EVENT] : "";
    const char *delivery = c->hdr_set[H_GITHUB_DELIVERY] ? c->hdr[H_GITHUB_DELIVERY] : "";
    if (!recent_claim(c->srv->deliveries, delivery, daemon_now_ms(), daemon_now_ms())) {
        /* The header's bytes are quoted: invalid UTF-8 goes out as \xNN. */
        char safe[1024];
        utf8_escape(delivery, safe, sizeof(safe));
        http_respond_json(c, 200, json_pack("{s:s, s:s}", "ignored", "redelivery", "delivery",
                                       safe), NULL);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(c->body != NULL ? c->body : "", c->body_len, 0, &jerr);
    struct github_event ev;
    char why[256];
    int rc = -EINVAL;
    if (doc == NULL) {
        snprintf(why, sizeof(why), "malformed JSON at byte %d: %s", jerr.position, jerr.text);
    } else if (!json_is_object(doc)) {
        snprintf(why, sizeof(why), "expected a JSON object");
    } else {
        rc = github_event_read(event, doc, &ev, why, sizeof(why));
    }
    const struct conf_app *app = NULL;
    if (rc == 0 && ev.action == GITHUB_DEPLOY) {
        app = app_of_repo(d->conf, ev.repo_full, ev.repo_name);
        if (app == NULL && (!d->conf->daemon.auto_register_apps || ev.repo_name == NULL)) {
            recent_forget(c->srv->deliveries, delivery);
            http_respond_error(c, 404, NULL, "no app for repository %s: name one with github-repo",
                          ev.repo_full != NULL ? ev.repo_full : "(unnamed)");
            json_decref(doc);
            return;
        }
        /* A copy in doc: a reload may free the configuration before the
         * store answers the lookup. An app of its own for the repository
         * when auto-register-apps is on. */
        json_object_set_new(doc, "shipwatch_app", json_string(app != NULL ? app->name
                                                                         : ev.repo_name));
        ev.dep.app = json_string_value(json_object_get(doc, "shipwatch_app"));
        rc = deploy_validate(&ev.dep, why, sizeof(why));
    }
    if (rc < 0) {
        recent_forget(c->srv->deliveries, delivery);
        http_respond_error(c, 400, NULL, "%s", why);
    } else if (ev.action == GITHUB_PING) {
        http_respond_json(c, 200, json_pack("{s:b}", "ok", 1), NULL);
    } else if (ev.action == GITHUB_IGNORE) {
        http_respond_json(c, 202, json_pack("{s:s}", "ignored", ev.ignored), NULL);
    } else {
        record_deploy(c, doc, &ev.dep, delivery);
        return;
    }
    json_decref(doc);
}

/* --- GET /api/v1/deploys/ID --- */

#define NO_READ_CREDENTIALS                                                               \
    "reading a deploy needs its app's deploy-token (or daemon.deploy-token) as a bearer "  \
    "token, or an X-Shipwatch-Signature-256 of X-Shipwatch-Timestamp and an empty body "    \
    "made with its deploy-secret (or daemon.deploy-secret)"

/* A GET of a deploy: reading the store, then maybe held for its verdict. */
struct deploy_get {
    struct hconn *c;
    int64_t id;                 /* asked for by number; 0: by sender's id */
    int64_t wait_ms;            /* 0: answer at once */
    bool held;                  /* waiting for the verdict (owns c->timer) */
    json_t *answer;             /* the deploy as answered, once read */
    struct deploy_get *prev, *next;
};

static void deploy_get_free(struct http_server *s, struct deploy_get *g)
{
    if (g->prev != NULL) {
        g->prev->next = g->next;
    } else {
        s->gets = g->next;
    }
    if (g->next != NULL) {
        g->next->prev = g->prev;
    }
    if (g->held) {
        s->nwaits--;
    }
    json_decref(g->answer);
    http_conn_unref(g->c);
    free(g);
}

/* Answer g with its deploy as it stands (when its connection is still
 * there), and free it. */
static void deploy_get_answer(struct http_server *s, struct deploy_get *g)
{
    if (g->c->open) {
        if (g->held) {
            uv_timer_stop(&g->c->timer);
        }
        http_respond_json(g->c, 200, json_incref(g->answer), NULL);
    }
    deploy_get_free(s, g);
}

/* Whether the request carries a credential someone has: a bearer token of
 * an app or the daemon, or a signature of the empty body made with one of
 * their deploy-secrets, its timestamp within the window. */
static bool some_credential(const struct hconn *c)
{
    const struct config *conf = c->srv->d->conf;
    if (c->hdr_set[H_SIGNATURE]) {
        if (signed_stamp_ms(c, daemon_now_ms()) < 0) {
            return false;
        }
        bool found = credentials_match(c, NULL, conf->daemon.deploy_secret);
        for (size_t i = 0; i < conf->napps; i++) {
            found = credentials_match(c, NULL, conf->apps[i].deploy_secret) || found;
        }
        return found;
    }
    return c->hdr_set[H_AUTHORIZATION] && strncasecmp(c->hdr[H_AUTHORIZATION], "Bearer ", 7) == 0 &&
           some_token_is(conf, c->hdr[H_AUTHORIZATION] + 7);
}

/* Whether the request may read a deploy of the app named app: its own
 * credentials or the daemon-wide ones. */
static bool read_authorized(const struct hconn *c, const char *app_name)
{
    const struct config *conf = c->srv->d->conf;
    const struct conf_app *app = config_find_app(conf, app_name);
    return (app != NULL && credentials_match(c, app->deploy_token, app->deploy_secret)) ||
           credentials_match(c, conf->daemon.deploy_token, conf->daemon.deploy_secret);
}

/* A time member: RFC 3339 text, or null for 0. */
static json_t *time_json(int64_t ms)
{
    char buf[CIVIL_RFC3339_LEN];
    return ms > 0 ? json_string(civil_format_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

/* A string member: the text, or null. */
static json_t *text_json(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* The answer for dep: what GET /api/v1/deploys/ID shows. */
static json_t *deploy_json(const struct deploy *dep)
{
    return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)dep->id, "ext_id", text_json(dep->ext_id), "app", dep->app,
                     "env", dep->env, "version", dep->version, "status", dep->status,
                     "verdict", text_json(dep->verdict), "verdict_reason",
                     text_json(dep->verdict_reason), "failing_check",
                     text_json(dep->failing_check), "rollback_version",
                     text_json(dep->rollback_version), "started_at", time_json(dep->started_ms),
                     "finished_at", time_json(dep->finished_ms));
}

/* The verdict fields of a deploy judged lately (NULL: none remembered). */
static json_t *verdict_seen(const struct http_server *s, int64_t id)
{
    for (size_t i = 0; i < DEPLOY_VERDICTS_KEPT; i++) {
        if (s->verdicts[i] != NULL && s->verdict_ids[i] == id) {
            return s->verdicts[i];
        }
    }
    return NULL;
}

/* Whether an answer is still waiting for its verdict: pending, or no
 * verdict yet while the deploy is only started. */
static bool answer_pending(json_t *answer)
{
    const char *verdict = json_string_value(json_object_get(answer, "verdict"));
    const char *status = json_string_value(json_object_get(answer, "status"));
    return verdict != NULL ? strcmp(verdict, "pending") == 0
                           : status != NULL && strcmp(status, "started") == 0;
}

/* The wait is over: answer with the pending state. */
static void on_wait_end(uv_timer_t *t)
{
    struct hconn *c = t->data;
    struct http_server *s = c->srv;
    for (struct deploy_get *g = s->gets; g != NULL; g = g->next) {
        if (g->c == c && g->held) {
            deploy_get_answer(s, g);
            return;
        }
    }
}

/* The store's answer for g: 404 unless found and the credentials are its
 * app's (another app's deploy is never shown, nor said to exist); else
 * the deploy, at once or once its verdict lands. */
static void on_get_lookup(int err, const struct deploy *found, size_t n, void *arg)
{
    struct deploy_get *g = arg;
    struct hconn *c = g->c;
    struct http_server *s = c->srv;
    if (!c->open) {
        deploy_get_free(s, g);
        return;
    }
    if (err < 0) {
        http_respond_error(c, 503, NULL, "the store cannot be read: %s", strerror(-err));
        deploy_get_free(s, g);
        return;
    }
    const struct deploy *dep = n > 0 && (g->id == 0 || found[0].id == g->id) ? &found[0] : NULL;
    if (dep == NULL || !read_authorized(c, dep->app)) {
        http_respond_error(c, 404, NULL, "no such deploy");
        deploy_get_free(s, g);
        return;
    }
    g->answer = deploy_json(dep);
    json_t *seen = g->answer != NULL ? verdict_seen(s, dep->id) : NULL;
    if (seen != NULL) {
        json_object_update(g->answer, seen);
    }
    if (g->answer == NULL || g->wait_ms == 0 || !answer_pending(g->answer)) {
        deploy_get_answer(s, g);
        return;
    }
    if (s->nwaits >= DEPLOY_WAITS_MAX) {
        http_respond_error(c, 503, "Retry-After: 5\r\n",
                           "too many requests wait for a verdict: retry shortly");
        deploy_get_free(s, g);
        return;
    }
    g->id = dep->id;
    g->held = true;
    s->nwaits++;
    c->timer.data = c;
    uv_timer_start(&c->timer, on_wait_end, (uint64_t)g->wait_ms, 0);
}

/* ?wait=SECONDS of the query (0 without one). false after answering 400. */
static bool wait_param(struct hconn *c, const char *query, int64_t *wait_ms)
{
    *wait_ms = 0;
    for (const char *p = query; *p != '\0';) {
        size_t len = strcspn(p, "&");
        if (len >= 5 && strncmp(p, "wait=", 5) == 0) {
            int64_t v = 0;
            size_t i = 5;
            for (; i < len && i < 9 && p[i] >= '0' && p[i] <= '9'; i++) {
                v = v * 10 + (p[i] - '0');
            }
            if (i == 5 || i != len || v > DEPLOY_WAIT_MAX_S) {
                http_respond_error(c, 400, NULL, "wait: expected seconds from 0 to %d",
                                   DEPLOY_WAIT_MAX_S);
                return false;
            }
            *wait_ms = v * 1000;
        } else if (len == 4 && strncmp(p, "wait", 4) == 0) {
            http_respond_error(c, 400, NULL, "wait: expected seconds from 0 to %d",
                               DEPLOY_WAIT_MAX_S);
            return false;
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    return true;
}

/* GET /api/v1/deploys/ID: ID is the number POST answered with (or the
 * sender's id); authorized by the deploy's app's credentials once the
 * store shows which app that is. */
void http_route_deploy_get(struct hconn *c, const char *rest)
{
    struct http_server *s = c->srv;
    /* route() ended the path at the '?': the query follows that NUL. */
    size_t plen = strlen(c->url);
    const char *query = plen < c->url_len ? c->url + plen + 1 : "";
    if (!some_credential(c)) {
        http_respond_error(c, 401, "WWW-Authenticate: Bearer\r\n", "%s", NO_READ_CREDENTIALS);
        return;
    }
    int64_t wait_ms;
    if (!wait_param(c, query, &wait_ms)) {
        return;
    }
    size_t len = strlen(rest);
    if (len == 0 || len > DEPLOY_FIELD_MAX || strchr(rest, '/') != NULL) {
        http_respond_error(c, 404, NULL, "no such deploy");
        return;
    }
    int64_t id = 0;
    bool numeric = len <= 18 && strspn(rest, "0123456789") == len;
    for (size_t i = 0; numeric && i < len; i++) {
        id = id * 10 + (rest[i] - '0');
    }
    if (numeric && id == 0) {
        http_respond_error(c, 404, NULL, "no such deploy");
        return;
    }
    struct deploy_get *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        http_respond_error(c, 500, NULL, "out of memory");
        return;
    }
    g->c = c;
    g->id = numeric ? id : 0;
    g->wait_ms = wait_ms;
    c->refs++;
    g->next = s->gets;
    if (g->next != NULL) {
        g->next->prev = g;
    }
    s->gets = g;
    struct store_deploy_query q = {.limit = 1};
    if (numeric) {
        q.before_id = id + 1;
    } else {
        q.ext_id = rest;
    }
    int rc = store_deploys(s->d->store, &q, on_get_lookup, g);
    if (rc < 0) {
        on_get_lookup(rc, NULL, 0, g);
    }
}

void http_deploy_verdict(struct http_server *s, const struct deploy *dep)
{
    if (s == NULL) {
        return;
    }
    json_t *v = json_pack("{s:o, s:o, s:o, s:o}", "verdict", text_json(dep->verdict),
                          "verdict_reason", text_json(dep->verdict_reason), "failing_check",
                          text_json(dep->failing_check), "rollback_version",
                          text_json(dep->rollback_version));
    if (v == NULL) {
        return;
    }
    size_t at = s->verdict_next++ % DEPLOY_VERDICTS_KEPT;
    json_decref(s->verdicts[at]);
    s->verdicts[at] = v;
    s->verdict_ids[at] = dep->id;
    for (struct deploy_get *g = s->gets, *next; g != NULL; g = next) {
        next = g->next;
        if (g->held && g->id == dep->id) {
            json_object_update(g->answer, v);
            deploy_get_answer(s, g);
        }
    }
}

void http_deploy_waits_end(struct http_server *s)
{
    for (struct deploy_get *g = s->gets, *next; g != NULL; g = next) {
        next = g->next;
        if (g->held) {
            deploy_get_answer(s, g);
        }
    }
}

/* Free every deploy and GET still waiting for the store. */
void http_deploy_reqs_free(struct http_server *s)
{
    while (s->reqs != NULL) {
        deploy_req_free(s, s->reqs);
    }
    while (s->gets != NULL) {
        deploy_get_free(s, s->gets);
    }
    for (size_t i = 0; i < DEPLOY_VERDICTS_KEPT; i++) {
        json_decref(s->verdicts[i]);
        s->verdicts[i] = NULL;
    }
}
