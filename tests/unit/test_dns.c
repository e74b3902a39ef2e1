/*
 * test_dns.c - the worker resolver (scand/dns.h) against a real unbound on
 * loopback, started by this test with zone data it writes itself.
 *
 * Zones (see UNBOUND_CONF):
 *  scand-test.   local data: A, AAAA, MX, null MX, TXT, a long TXT (TC and
 *                TCP), a TTL 1 record; NXDOMAIN with a SOA (negative TTL 3)
 *  nosoa-test.   local zone without SOA: NXDOMAIN, default negative TTL
 *  cname-test.   an authoritative zone with a CNAME chain
 *  slow-test.    deny: queries are dropped (timeouts)
 *  refused-test. refuse: REFUSED
 *  broken-test.  a stub zone whose server is this unbound itself, which
 *                will not recurse for it: SERVFAIL at once
 * The port is picked free in 40000-40999. unbound is killed by its PID.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "scand/dns.h"
#include "scand/params.h"

static char ub_dir[] = "/tmp/test_dns_XXXXXX";
static int ub_port;
static pid_t ub_pid = -1;

static const char UNBOUND_CONF[] =
    "server:\n"
    "  username: \"\"\n"
    "  chroot: \"\"\n"
    "  directory: \"%1$s\"\n"
    "  pidfile: \"\"\n"
    "  do-daemonize: no\n"
    "  use-syslog: no\n"
    "  logfile: \"%1$s/unbound.log\"\n"
    "  verbosity: 1\n"
    "  log-queries: yes\n"
    "  interface: 127.0.0.1@%2$d\n"
    "  port: %2$d\n"
    "  do-ip6: no\n"
    "  access-control: 127.0.0.0/8 allow\n"
    "  do-not-query-localhost: no\n"
    "  module-config: \"iterator\"\n"
    "  qname-minimisation: no\n"
    "  local-zone: \"scand-test.\" static\n"
    "  local-data: \"scand-test. 10 IN SOA ns.scand-test. host.scand-test. 1 3600 600 86400 3\"\n"
    "  local-data: \"a.scand-test. 300 IN A 192.0.2.1\"\n"
    "  local-data: \"a.scand-test. 200 IN A 192.0.2.2\"\n"
    "  local-data: \"ttl1.scand-test. 1 IN A 192.0.2.9\"\n"
    "  local-data: \"v6.scand-test. 300 IN AAAA 2001:db8::1\"\n"
    "  local-data: \"mx.scand-test. 300 IN MX 10 Mail.Scand-Test.\"\n"
    "  local-data: \"mx.scand-test. 250 IN MX 20 backup.scand-test.\"\n"
    "  local-data: \"nullmx.scand-test. 300 IN MX 0 .\"\n"
    "  local-data: 'txt.scand-test. 300 IN TXT \"hello \" \"world\"'\n"
    "  local-data: 'long.scand-test. 300 IN TXT \"%3$s\" \"%3$s\" \"%3$s\" \"%3$s\"'\n"
    "  local-data: \"2.0.0.127.in-addr.arpa. 300 IN PTR Host.Scand-Test.\"\n"
    "  local-zone: \"nosoa-test.\" static\n"
    "  local-data: \"x.nosoa-test. 300 IN A 192.0.2.5\"\n"
    "  local-zone: \"slow-test.\" deny\n"
    "  local-zone: \"refused-test.\" refuse\n"
    "  domain-insecure: \"broken-test.\"\n"
    "stub-zone:\n"
    "  name: \"broken-test.\"\n"
    "  stub-addr: 127.0.0.1@%2$d\n"
    "auth-zone:\n"
    "  name: \"cname-test.\"\n"
    "  zonefile: \"%1$s/cname.zone\"\n"
    "  for-upstream: yes\n"
    "  for-downstream: yes\n";

static const char CNAME_ZONE[] =
    "cname-test. 300 IN SOA ns.cname-test. h.cname-test. 1 3600 600 86400 30\n"
    "cname-test. 300 IN NS ns.cname-test.\n"
    "ns.cname-test. 300 IN A 127.0.0.1\n"
    "a.cname-test. 60 IN A 192.0.2.7\n"
    "alias.cname-test. 300 IN CNAME b.cname-test.\n"
    "b.cname-test. 300 IN CNAME a.cname-test.\n";

/* 200 characters: four of them make a TXT answer over 512 octets. */
#define CHUNK200                                                                                   \
    "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"             \
    "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"             \
    "0123456789abcdefghij0123456789abcdefghij"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A port free for UDP and TCP on 127.0.0.1, in this test's range. */
static int pick_port(void)
{
    for (int tries = 0; tries < 200; tries++) {
        int port = 40000 + (int)((getpid() * 7919u + (unsigned)tries * 104729u) % 1000);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
             bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0;
        close(u);
        close(t);
        if (ok)
            return port;
    }
    return -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int unbound_ready(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ub_port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

static int unbound_start(void **state)
{
    char path[256], conf[8192];
    (void)state;

    if (mkdtemp(ub_dir) == NULL || (ub_port = pick_port()) < 0)
        return -1;
    snprintf(conf, sizeof(conf), UNBOUND_CONF, ub_dir, ub_port, CHUNK200);
    snprintf(path, sizeof(path), "%s/unbound.conf", ub_dir);
    write_file(path, conf);
    snprintf(path, sizeof(path), "%s/cname.zone", ub_dir);
    write_file(path, CNAME_ZONE);
    if ((ub_pid = fork()) == 0) {
        char out[256];
        snprintf(out, sizeof(out), "%s/unbound.out", ub_dir);
        if (freopen(out, "w", stdout) == NULL || freopen(out, "a", stderr) == NULL)
            _exit(127);
        snprintf(path, sizeof(path), "%s/unbound.conf", ub_dir);
        execlp("unbound", "unbound", "-d", "-c", path, (char *)NULL);
        execl("/usr/sbin/unbound", "unbound", "-d", "-c", path,
              (char *)NULL); /* PATH without sbin */
        _exit(127);
    }
    for (int i = 0; i < 100 && !unbound_ready(); i++)
        usleep(50000);
    if (!unbound_ready()) {
        fprintf(stderr, "unbound did not start; see %s/unbound.out\n", ub_dir);
        return -1;
    }
    return 0;
}

static int unbound_stop(void **state)
{
    char cmd[300];
    (void)state;

    if (ub_pid > 0) {
        kill(ub_pid, SIGTERM);
        waitpid(ub_pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ub_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Lines of unbound's query log naming "NAME. TYPE IN". */
static int unbound_queries(const char *name, const char *type)
{
    char path[256], line[1024], want[300];
    int count = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/unbound.log", ub_dir);
    snprintf(want, sizeof(want), " %s. %s IN", name, type);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strstr(line, want) != NULL)
            count++;
    fclose(fp);
    return count;
}

/* ---- a resolver per test ---- */

struct fixture {
    struct event_base *base;
    struct dns *dns;
};

static struct fixture fixture_new(int timeout_ms, int attempts, int time_limit)
{
    struct fixture fx;
    char servers[64], err[256] = "";
    struct dns_config config = {.servers = servers,
                                .query_timeout_ms = timeout_ms,
                                .query_attempts = attempts,
                                .cache_size = 100,
                                .message_time_limit = time_limit};

    snprintf(servers, sizeof(servers), "127.0.0.1:%d", ub_port);
    fx.base = event_base_new();
    assert_non_null(fx.base);
    fx.dns = dns_new(fx.base, &config, err, sizeof(err));
    if (fx.dns == NULL)
        fail_msg("dns_new: %s", err);
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    dns_free(fx->dns);
    event_base_free(fx->base);
}

static void count_done(void *arg)
{
    (*(int *)arg)++;
}

/* Run the loop until the waiter's wait calls back (bounded). */
static void wait_for(struct fixture *fx, struct dns_waiter *waiter)
{
    int done = 0;
    double start = now_s();

    dns_waiter_wait(waiter, count_done, &done);
    assert_int_equal(done, 0); /* never from inside the call */
    while (!done && now_s() - start < 30)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(done, 1);
}

static void ask(struct dns_waiter *waiter, const char *name, enum rules_dns_type type,
                struct rules_dns_answer *answer)
{
    const struct rules_dns *view = dns_waiter_rules(waiter);
    view->lookup(view->ctx, name, type, answer);
}

/* Ask, wait if pending, ask again: the final answer. */
static void resolve(struct fixture *fx, struct dns_waiter *waiter, const char *name,
                    enum rules_dns_type type, struct rules_dns_answer *answer)
{
    ask(waiter, name, type, answer);
    if (answer->status == RULES_DNS_PENDING) {
        assert_true(dns_waiter_busy(waiter));
        wait_for(fx, waiter);
        ask(waiter, name, type, answer);
    }
    assert_int_not_equal(answer->status, RULES_DNS_PENDING);
    assert_false(dns_waiter_busy(waiter));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "pref text" per record (pref only for MX), sorted, joined by " | ". */
static void records_text(const struct rules_dns_answer *answer, enum rules_dns_type type, char *out,
                         size_t outlen)
{
    char *items[16];
    size_t n = answer->count < 16 ? answer->count : 16;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char buf[1200];
        if (type == RULES_DNS_MX)
            snprintf(buf, sizeof(buf), "%u %s", answer->records[i].pref, answer->records[i].text);
        else
            snprintf(buf, sizeof(buf), "%s", answer->records[i].text);
        items[i] = strdup(buf);
    }
    qsort(items, n, sizeof(items[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", i ? " | " : "", items[i]);
        free(items[i]);
    }
}

/* ---- cases ---- */

struct status_case {
    const char *label;
    const char *name;
    enum rules_dns_type type;
    enum rules_dns_status status;
    const char *records; /* records_text(), OK only */
    unsigned ttl;        /* checked when not 0 */
    const char *why;
    int from_cache;
};

static const struct status_case status_cases[] = {
    {"two A records", "a.scand-test", RULES_DNS_A, RULES_DNS_OK, "192.0.2.1 | 192.0.2.2", 200, NULL,
     0},
    {"upper case name, trailing dot: the same key", "A.Scand-Test.", RULES_DNS_A, RULES_DNS_OK,
     "192.0.2.1 | 192.0.2.2", 200, NULL, 1},
    {"AAAA", "v6.scand-test", RULES_DNS_AAAA, RULES_DNS_OK, "2001:db8::1", 300, NULL, 0},
    {"MX, lower-cased, smallest TTL", "mx.scand-test", RULES_DNS_MX, RULES_DNS_OK,
     "10 mail.scand-test | 20 backup.scand-test", 250, NULL, 0},
    {"null MX", "nullmx.scand-test", RULES_DNS_MX, RULES_DNS_OK, "0 ", 300, NULL, 0},
    {"TXT strings concatenated", "txt.scand-test", RULES_DNS_TXT, RULES_DNS_OK, "hello world", 300,
     NULL, 0},
    {"TXT over 512 octets: TC, then TCP", "long.scand-test", RULES_DNS_TXT, RULES_DNS_OK,
     CHUNK200 CHUNK200 CHUNK200 CHUNK200, 300, NULL, 0},
    {"PTR", "2.0.0.127.in-addr.arpa", RULES_DNS_PTR, RULES_DNS_OK, "host.scand-test", 300, NULL, 0},
    {"CNAME chain: final records, smallest TTL", "alias.cname-test", RULES_DNS_A, RULES_DNS_OK,
     "192.0.2.7", 60, NULL, 0},
    {"CNAME without the type: NODATA", "alias.cname-test", RULES_DNS_MX, RULES_DNS_NODATA, NULL, 0,
     "Host found but no data record of requested type", 0},
    {"NXDOMAIN: SOA minimum", "nope.scand-test", RULES_DNS_A, RULES_DNS_NOTFOUND, NULL, 3,
     "Host not found", 0},
    {"NXDOMAIN without SOA: 60 s", "nope.nosoa-test", RULES_DNS_A, RULES_DNS_NOTFOUND, NULL, 60,
     "Host not found", 0},
    {"NODATA: SOA minimum", "a.scand-test", RULES_DNS_MX, RULES_DNS_NODATA, NULL, 3,
     "Host found but no data record of requested type", 0},
    {"SERVFAIL", "q.broken-test", RULES_DNS_A, RULES_DNS_RETRY, NULL, 0,
     "Host not found, try again", 0},
    {"REFUSED", "q.refused-test", RULES_DNS_A, RULES_DNS_RETRY, NULL, 0,
     "Host not found, try again", 0},
    {"timeout", "q.slow-test", RULES_DNS_A, RULES_DNS_RETRY, NULL, 0, "Host not found, try again",
     0},
    {"empty label", "bad..scand-test", RULES_DNS_A, RULES_DNS_NOTFOUND, NULL, 0,
     "invalid host or domain name", 0},
    {"blank in name", "bad name.scand-test", RULES_DNS_A, RULES_DNS_NOTFOUND, NULL, 0,
     "invalid host or domain name", 0},
};

static void test_statuses(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(500, 1, 30);

    for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
        const struct status_case *tc = &status_cases[i];
        struct dns_waiter *waiter = dns_waiter_new(fx.dns);
        struct rules_dns_answer answer;
        char got[2000];

        resolve(&fx, waiter, tc->name, tc->type, &answer);
        if (answer.status != tc->status)
            fail_msg("%s: status %d, want %d (why %s)", tc->label, answer.status, tc->status,
                     answer.why ? answer.why : "-");
        if (answer.from_cache != tc->from_cache)
            fail_msg("%s: from_cache %d", tc->label, answer.from_cache);
        if (tc->status == RULES_DNS_OK) {
            records_text(&answer, tc->type, got, sizeof(got));
            if (strcmp(got, tc->records) != 0)
                fail_msg("%s: records \"%s\", want \"%s\"", tc->label, got, tc->records);
        } else {
            assert_int_equal(answer.count, 0);
            if (answer.why == NULL || strcmp(answer.why, tc->why) != 0)
                fail_msg("%s: why \"%s\", want \"%s\"", tc->label, answer.why ? answer.why : "-",
                         tc->why);
        }
        if (tc->ttl != 0 && answer.ttl != tc->ttl)
            fail_msg("%s: ttl %u, want %u", tc->label, answer.ttl, tc->ttl);
        if (tc->status == RULES_DNS_RETRY && answer.ttl != 0)
            fail_msg("%s: RETRY with ttl %u", tc->label, answer.ttl);
        dns_waiter_free(waiter);
    }
    fixture_free(&fx);
}

/* One server that refuses connections: RETRY, quickly. */
static void test_server_down(void **state)
{
    (void)state;
    int port = pick_port();
    char servers[64], err[256];
    struct dns_config config = {servers, 1000, 1, 10, 30};
    struct event_base *base = event_base_new();
    struct dns *dns;
    struct fixture fx;
    struct dns_waiter *waiter;
    struct rules_dns_answer answer;

    snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
    dns = dns_new(base, &config, err, sizeof(err));
    assert_non_null(dns);
    fx.base = base;
    fx.dns = dns;
    waiter = dns_waiter_new(dns);
    resolve(&fx, waiter, "a.scand-test", RULES_DNS_A, &answer);
    assert_int_equal(answer.status, RULES_DNS_RETRY);
    assert_string_equal(answer.why, "Host not found, try again");
    dns_waiter_free(waiter);
    fixture_free(&fx);
}

/* Within a transaction the same question answers the same, copied: the
 * waiter keeps it even when the cache drops it. */
static void test_waiter_repeats(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(500, 1, 30);
    struct dns_waiter *waiter = dns_waiter_new(fx.dns);
    struct rules_dns_answer first, again;

    resolve(&fx, waiter, "ttl1.scand-test", RULES_DNS_A, &first);
    assert_int_equal(first.status, RULES_DNS_OK);
    assert_int_equal(first.ttl, 1);
    usleep(1200000); /* the cache entry expires */
    ask(waiter, "TTL1.scand-test", RULES_DNS_A, &again);
    assert_int_equal(again.status, RULES_DNS_OK);
    assert_int_equal(again.count, 1);
    assert_string_equal(again.records[0].text, "192.0.2.9");
    assert_int_equal(again.from_cache, 0);
    assert_false(dns_waiter_busy(waiter));
    dns_waiter_free(waiter);
    fixture_free(&fx);
}

/* A 1 s TTL is served from the cache at once, and asked again after 2 s. */
static void test_ttl_honoured(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(500, 1, 30);
    struct rules_dns_answer answer;
    const struct {
        const char *label;
        unsigned sleep_ms;
        int from_cache;
    } steps[] = {
        {"first: a query", 0, 0},
        {"at once: from the cache", 0, 1},
        {"after 2 s: expired, a query", 2000, 0},
        {"then: from the cache again", 0, 1},
    };

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct dns_waiter *waiter = dns_waiter_new(fx.dns);
        usleep(steps[i].sleep_ms * 1000);
        resolve(&fx, waiter, "ttl1.scand-test", RULES_DNS_A, &answer);
        assert_int_equal(answer.status, RULES_DNS_OK);
        if (answer.from_cache != steps[i].from_cache)
            fail_msg("%s: from_cache %d", steps[i].label, answer.from_cache);
        dns_waiter_free(waiter);
    }
    assert_int_equal(unbound_queries("ttl1.scand-test", "A") >= 2, 1);
    fixture_free(&fx);
}

/* NXDOMAIN and NODATA are cached; RETRY is not. */
static void test_negative_cache(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(300, 1, 30);
    const struct {
        const char *label;
        const char *name;
        enum rules_dns_type type;
        enum rules_dns_status status;
        int cached;
    } cases[] = {
        {"NXDOMAIN cached", "neg1.scand-test", RULES_DNS_A, RULES_DNS_NOTFOUND, 1},
        {"NODATA cached", "v6.scand-test", RULES_DNS_MX, RULES_DNS_NODATA, 1},
        {"SERVFAIL not cached", "neg.broken-test", RULES_DNS_A, RULES_DNS_RETRY, 0},
        {"timeout not cached", "neg.slow-test", RULES_DNS_A, RULES_DNS_RETRY, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int round = 0; round < 2; round++) {
            struct dns_waiter *waiter = dns_waiter_new(fx.dns);
            struct rules_dns_answer answer;
            resolve(&fx, waiter, cases[i].name, cases[i].type, &answer);
            if (answer.status != cases[i].status)
                fail_msg("%s round %d: status %d", cases[i].label, round, answer.status);
            if (answer.from_cache != (round == 1 && cases[i].cached))
                fail_msg("%s round %d: from_cache %d", cases[i].label, round, answer.from_cache);
            dns_waiter_free(waiter);
        }
    }
    assert_int_equal(unbound_queries("neg1.scand-test", "A"), 1);
    fixture_free(&fx);
}

/* Two waiters asking the same thing at once: one query. */
static void test_coalesced(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(500, 1, 30);
    struct dns_waiter *w1 = dns_waiter_new(fx.dns);
    struct dns_waiter *w2 = dns_waiter_new(fx.dns);
    struct rules_dns_answer a1, a2;

    ask(w1, "coal.cname-test", RULES_DNS_A, &a1);
    ask(w2, "coal.cname-test", RULES_DNS_A, &a2);
    assert_int_equal(a1.status, RULES_DNS_PENDING);
    assert_int_equal(a2.status, RULES_DNS_PENDING);
    wait_for(&fx, w2);
    assert_false(dns_waiter_busy(w1)); /* answered by the same query */
    ask(w1, "coal.cname-test", RULES_DNS_A, &a1);
    ask(w2, "coal.cname-test", RULES_DNS_A, &a2);
    assert_int_equal(a1.status, RULES_DNS_NOTFOUND);
    assert_int_equal(a2.status, RULES_DNS_NOTFOUND);
    assert_int_equal(a1.from_cache, 0);
    assert_int_equal(a2.from_cache, 1);
    assert_int_equal(unbound_queries("coal.cname-test", "A"), 1);
    dns_waiter_free(w1);
    dns_waiter_free(w2);
    fixture_free(&fx);
}

/* A 1 s budget and a 3 s timeout: the budget wins, and is spent. */
static void test_budget(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(3000, 1, 1);
    struct dns_waiter *warm = dns_waiter_new(fx.dns);
    struct dns_waiter *waiter = dns_waiter_new(fx.dns);
    struct rules_dns_answer answer;
    double start, took;

    resolve(&fx, warm, "a.scand-test", RULES_DNS_A, &answer);
    dns_waiter_free(warm);

    ask(waiter, "b1.slow-test", RULES_DNS_A, &answer);
    assert_int_equal(answer.status, RULES_DNS_PENDING);
    start = now_s();
    wait_for(&fx, waiter);
    took = now_s() - start;
    if (took < 0.8 || took > 2.5)
        fail_msg("budget wait took %.2f s, want about 1", took);

    const struct {
        const char *label;
        const char *name;
        enum rules_dns_status status;
        const char *why;
    } after[] = {
        {"the outstanding lookup", "b1.slow-test", RULES_DNS_RETRY, "DNS time budget spent"},
        {"a new lookup", "b2.scand-test", RULES_DNS_RETRY, "DNS time budget spent"},
        {"a cached answer still answers", "a.scand-test", RULES_DNS_OK, NULL},
    };
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
        ask(waiter, after[i].name, RULES_DNS_A, &answer);
        if (answer.status != after[i].status)
            fail_msg("%s: status %d", after[i].label, answer.status);
        if (after[i].why != NULL)
            assert_string_equal(answer.why, after[i].why);
    }
    assert_false(dns_waiter_busy(waiter));
    /* Nothing outstanding: the wait still calls back, from the loop. */
    wait_for(&fx, waiter);
    dns_waiter_free(waiter);
    fixture_free(&fx);
}

/* Freed with lookups in flight: the query goes on and fills the cache; a
 * cancelled wait never calls back; the resolver frees queries in flight. */
static void test_free_mid_flight(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(700, 1, 30);
    struct dns_waiter *waiter = dns_waiter_new(fx.dns);
    struct rules_dns_answer answer;
    struct timeval tv = {0, 300000};
    int done = 0;

    ask(waiter, "v6.scand-test", RULES_DNS_AAAA, &answer);
    assert_int_equal(answer.status, RULES_DNS_PENDING);
    ask(waiter, "f1.slow-test", RULES_DNS_A, &answer);
    dns_waiter_wait(waiter, count_done, &done);
    dns_waiter_free(waiter);
    event_base_loopexit(fx.base, &tv);
    event_base_dispatch(fx.base);
    assert_int_equal(done, 0);

    waiter = dns_waiter_new(fx.dns);
    ask(waiter, "v6.scand-test", RULES_DNS_AAAA, &answer);
    assert_int_equal(answer.status, RULES_DNS_OK);
    assert_int_equal(answer.from_cache, 1);
    ask(waiter, "f2.slow-test", RULES_DNS_A, &answer); /* in flight at dns_free */
    assert_int_equal(answer.status, RULES_DNS_PENDING);
    dns_waiter_free(waiter);
    fixture_free(&fx);
}

/* 20 timeouts of 1 s run in parallel, not one after the other. */
static void test_parallel(void **state)
{
    (void)state;
    struct fixture fx = fixture_new(1000, 1, 30);
    struct dns_waiter *waiter = dns_waiter_new(fx.dns);
    struct rules_dns_answer answer;
    char name[64];
    double start = now_s(), took;

    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "p%d.slow-test", i);
        ask(waiter, name, RULES_DNS_A, &answer);
        assert_int_equal(answer.status, RULES_DNS_PENDING);
    }
    wait_for(&fx, waiter);
    took = now_s() - start;
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "p%d.slow-test", i);
        ask(waiter, name, RULES_DNS_A, &answer);
        assert_int_equal(answer.status, RULES_DNS_RETRY);
        assert_string_equal(answer.why, "Host not found, try again");
    }
    if (took > 5)
        fail_msg("20 parallel timeouts took %.2f s", took);
    dns_waiter_free(waiter);
    fixture_free(&fx);
}

static void test_servers_valid(void **state)
{
    (void)state;
    const struct {
        const char *label;
        const char *servers;
        const char *err; /* NULL: valid */
    } cases[] = {
        {"empty: the system's", "", NULL},
        {"the parameter's style", "127.0.0.1:5353, [::1]:5353", NULL},
        {"no ports", "10.0.0.1 ::1 [::1]", NULL},
        {"a host name", "localhost:53", "bad DNS server \"localhost:53\": not an IPv4 address"},
        {"port 0", "127.0.0.1:0", "bad DNS server \"127.0.0.1:0\": bad port"},
        {"port too big", "[::1]:65536", "bad DNS server \"[::1]:65536\": bad port"},
        {"unclosed bracket", "[::1:53", "bad DNS server \"[::1:53\": expected [address]:port"},
        {"v4 in brackets", "[127.0.0.1]:53",
         "bad DNS server \"[127.0.0.1]:53\": not an IPv6 address"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        int status = dns_servers_valid(cases[i].servers, err, sizeof(err));
        if (cases[i].err == NULL && status != 0)
            fail_msg("%s: refused: %s", cases[i].label, err);
        if (cases[i].err != NULL && (status == 0 || strcmp(err, cases[i].err) != 0))
            fail_msg("%s: got %d \"%s\"", cases[i].label, status, err);
    }
}

static void test_params(void **state)
{
    (void)state;
    char path[] = "/tmp/test_dns_params_XXXXXX";
    const char text[] = "myhostname = x.example\ndns_servers = 127.0.0.1:53,\n"
                        "  127.0.0.1:x\n";
    char err[512] = "", want[600];
    struct scand_params params;
    struct dns_config config;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    assert_int_equal(params_load(path, &params, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "%s, line 2: parameter dns_servers: bad DNS server \"127.0.0.1:x\": bad port", path);
    assert_string_equal(err, want);
    unlink(path);

    assert_int_equal(params_load(NULL, &params, err, sizeof(err)), 0);
    params_dns_config(&params, &config);
    assert_string_equal(config.servers, "");
    assert_int_equal(config.query_timeout_ms, 5000);
    assert_int_equal(config.query_attempts, 2);
    assert_int_equal(config.cache_size, 10000);
    assert_int_equal(config.message_time_limit, 30);
    params_free(&params);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_servers_valid),  cmocka_unit_test(test_params),
        cmocka_unit_test(test_statuses),       cmocka_unit_test(test_server_down),
        cmocka_unit_test(test_waiter_repeats), cmocka_unit_test(test_ttl_honoured),
        cmocka_unit_test(test_negative_cache), cmocka_unit_test(test_coalesced),
        cmocka_unit_test(test_budget),         cmocka_unit_test(test_free_mid_flight),
        cmocka_unit_test(test_parallel),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, unbound_start, unbound_stop);
}
