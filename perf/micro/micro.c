/*
 * perf/micro/micro.c - rule-engine and protocol micro-benchmarks (issue 5,
 * part 3), linked against build-p2's static libraries.
 *
 *   micro MSGDIR [--quick] [--only access,header,mime,data]
 *
 * MSGDIR holds perf/genmsg.py's four messages (plain, alt, attach, dsn .eml,
 * LF line ends); perf/micro/run makes them. Prints four tables:
 *
 *  access   access_lookup_address() on a texthash: table of N entries
 *           (rules/table.h, rules/access.h): ns per lookup, hit and miss
 *           (a miss tries every key of the access(5) order)
 *  header   content_check() with header_checks = mime_header_checks =
 *           nested_header_checks = pcre: table of N patterns (rules/content.h):
 *           us per message, per kind, nothing matching
 *  mime     mime_rules_check() with perf/rules' attachment_name_checks,
 *           attachment_type_checks, decoded_body_checks (rules/mime_rules.h);
 *           content_check() with perf/rules' header and body checks: MB/s
 *  data     smtp_data_in_feed() (smtp/smtp_data_in.h) over the dot-stuffed
 *           CRLF form of each message, fed whole and in 4 KB reads: MB/s
 *
 * Each figure is the best of 3 timed batches of at least --time seconds
 * (default 0.3), so a busy neighbour costs less.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/buffer.h>

#include "rules/access.h"
#include "rules/content.h"
#include "rules/mime_rules.h"
#include "rules/rules.h"
#include "rules/table.h"
#include "smtp/smtp_data_in.h"

static double min_time = 0.3;
static char tmpdir[256];
static const char *perfdir = "perf";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1);
    if (fread(buf, 1, n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    buf[n] = 0;
    fclose(f);
    *len = n;
    return buf;
}

/* LF -> CRLF (content as received, dot-unstuffed). */
static char *to_crlf(const char *in, size_t len, size_t *outlen)
{
    char *out = malloc(2 * len + 3);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n')
            out[o++] = '\r';
        out[o++] = in[i];
    }
    if (o == 0 || out[o - 1] != '\n') {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o] = 0;
    *outlen = o;
    return out;
}

/* CRLF content -> DATA stream: dot-stuffed, with the terminator. */
static char *to_wire(const char *crlf, size_t len, size_t *outlen)
{
    char *out = malloc(2 * len + 8);
    size_t o = 0;
    int bol = 1;
    for (size_t i = 0; i < len; i++) {
        if (bol && crlf[i] == '.')
            out[o++] = '.';
        out[o++] = crlf[i];
        bol = crlf[i] == '\n';
    }
    memcpy(out + o, ".\r\n", 3);
    o += 3;
    *outlen = o;
    return out;
}

/* ---- a parameter source ---- */

struct src {
    const char *name[32];
    const char *value[32];
    int n;
};

static const char *src_get(void *ctx, const char *name)
{
    struct src *s = ctx;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return s->value[i];
    return NULL;
}

static void src_where(void *ctx, const char *name, char *buf, size_t len)
{
    (void)ctx;
    snprintf(buf, len, "micro:%s", name);
}

static void src_set(struct src *s, const char *name, const char *value)
{
    s->name[s->n] = name;
    s->value[s->n] = value;
    s->n++;
}

static struct rules_source src_of(struct src *s)
{
    struct rules_source r = {src_get, src_where, s};
    return r;
}

/* xorshift, deterministic */
static unsigned long long rng_state = 88172645463325252ULL;
static unsigned long long rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *WORDS[] = {"mail", "news", "post", "info", "shop", "bank", "cloud", "net",
                              "web", "mx", "corp", "data", "star", "blue", "fast", "home"};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))
static const char *TLDS[] = {"com", "net", "org", "de", "ru", "cn", "info", "biz"};

static void sender_key(char *buf, size_t len, unsigned long i, int form)
{
    /* form 0: full address, 1: domain, 2: localpart@ */
    const char *w1 = WORDS[i % NWORDS], *w2 = WORDS[(i / NWORDS) % NWORDS];
    const char *tld = TLDS[(i / 7) % 8];
    if (form == 0)
        snprintf(buf, len, "user%lu@%s%lu.%s.%s", i, w1, i % 9973, w2, tld);
    else if (form == 1)
        snprintf(buf, len, "%s%lu.%s.%s", w2, i, w1, tld);
    else
        snprintf(buf, len, "user%lu@", i);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

/* ---- access ---- */

#define NQ 4096

static void bench_access(void)
{
    static const unsigned long sizes[] = {10, 1000, 100000, 1000000};
    printf("\n## access-map lookup (texthash:, access_lookup_address)\n\n");
    printf("| entries | load s | table RSS MB | hit ns/op | miss ns/op (all keys of the access order) |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        unsigned long n = sizes[si];
        char path[400], key[200];
        snprintf(path, sizeof(path), "%s/access.%lu", tmpdir, n);
        FILE *f = fopen(path, "w");
        for (unsigned long i = 0; i < n; i++) {
            int form = i % 3;
            sender_key(key, sizeof(key), i, form);
            fprintf(f, "%s %s\n", key, i % 5 == 0 ? "OK" : "REJECT Sender listed");
        }
        fclose(f);
        char spec[420], err[512];
        snprintf(spec, sizeof(spec), "texthash:%s", path);
        long rss0 = rss_kb();
        double t0 = now();
        struct table *t = table_open(spec, err, sizeof(err));
        double tload = now() - t0;
        long rss1 = rss_kb();
        if (!t) {
            fprintf(stderr, "table_open: %s\n", err);
            exit(1);
        }
        /* queries: hits are addresses whose full form (or domain, or
         * localpart@) is in the table; misses are absent everywhere. */
        static char hits[NQ][200], misses[NQ][200];
        for (int q = 0; q < NQ; q++) {
            unsigned long i = rnd() % n;
            int form = i % 3;
            if (form == 0)
                sender_key(hits[q], 200, i, 0);
            else if (form == 1) {
                char d[160];
                sender_key(d, sizeof(d), i, 1);
                snprintf(hits[q], 200, "someone@%s", d);
            } else {
                sender_key(hits[q], 200, i, 2);
                strcat(hits[q], "elsewhere.example");
            }
            snprintf(misses[q], 200, "nobody%llu@host%llu.sub.unlisted-%s.example.com",
                     rnd() % 100000, rnd() % 1000, WORDS[q % NWORDS]);
        }
        struct access_options opt = {"+", 1, "<>", NULL};
        double best[2] = {1e9, 1e9};
        for (int kind = 0; kind < 2; kind++) {
            char(*qs)[200] = kind == 0 ? hits : misses;
            /* check that hits hit and misses miss */
            struct table_result r = {0};
            int rc = access_lookup_address(t, qs[0], &opt, &r, NULL, NULL);
            if (rc != (kind == 0 ? 1 : 0)) {
                fprintf(stderr, "access: %s gave %d\n", qs[0], rc);
                exit(1);
            }
            if (rc == 1)
                table_result_free(&r);
            for (int b = 0; b < 3; b++) {
                long ops = 0;
                double start = now(), el;
                do {
                    for (int q = 0; q < NQ; q++) {
                        struct table_result res = {0};
                        if (access_lookup_address(t, qs[q], &opt, &res, NULL, NULL) == 1)
                            table_result_free(&res);
                    }
                    ops += NQ;
                    el = now() - start;
                } while (el < min_time);
                double ns = el * 1e9 / ops;
                if (ns < best[kind])
                    best[kind] = ns;
            }
        }
        printf("| %lu | %.2f | %.1f | %.0f | %.0f |\n", n, tload, (rss1 - rss0) / 1024.0, best[0],
               best[1]);
        fflush(stdout);
        table_free(t);
        unlink(path);
    }
}

/* ---- messages ---- */

static const char *KINDS[] = {"plain", "alt", "attach", "dsn"};
struct msg {
    char *crlf;
    size_t len;
    char *wire;
    size_t wlen;
};
static struct msg msgs[4];

static void load_msgs(const char *dir)
{
    for (int k = 0; k < 4; k++) {
        char path[400];
        size_t n;
        snprintf(path, sizeof(path), "%s/%s.eml", dir, KINDS[k]);
        char *raw = slurp(path, &n);
        msgs[k].crlf = to_crlf(raw, n, &msgs[k].len);
        msgs[k].wire = to_wire(msgs[k].crlf, msgs[k].len, &msgs[k].wlen);
        free(raw);
    }
}

/* seconds per call of fn(k), best of 3 batches */
typedef void (*msg_fn)(int k, void *ctx);
static double time_per_call(msg_fn fn, int k, void *ctx)
{
    double best = 1e9;
    fn(k, ctx); /* warm */
    for (int b = 0; b < 3; b++) {
        long calls = 0;
        double start = now(), el;
        do {
            fn(k, ctx);
            calls++;
            el = now() - start;
        } while (el < min_time);
        if (el / calls < best)
            best = el / calls;
    }
    return best;
}

static void run_content(int k, void *ctx)
{
    struct rules_verdict v;
    char *rw = NULL;
    size_t rwlen = 0;
    content_check(ctx, msgs[k].crlf, msgs[k].len, &v, &rw, &rwlen, NULL);
    if (v.reply) {
        fprintf(stderr, "content_check rejected %s: %s\n", KINDS[k], v.reply);
        exit(1);
    }
    rules_verdict_free(&v);
    free(rw);
}

static void run_mime(int k, void *ctx)
{
    struct rules_verdict v;
    mime_rules_check(ctx, msgs[k].crlf, msgs[k].len, &v, NULL);
    if (v.reply) {
        fprintf(stderr, "mime_rules_check rejected %s: %s\n", KINDS[k], v.reply);
        exit(1);
    }
    rules_verdict_free(&v);
}

/* ---- header_checks scaling ---- */

static void write_header_patterns(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        const char *w = WORDS[i % NWORDS];
        switch (i % 6) {
        case 0:
            fprintf(f, "/^Subject:.*\\b(%s%d|cheap\\s+%s%d)\\b/ REJECT Spam subject %d\n", w, i, w,
                    i, i);
            break;
        case 1:
            fprintf(f, "/^From:.*@([a-z0-9-]+\\.)*%sspam%d\\.(com|net|ru)\\b/ REJECT Listed domain\n",
                    w, i);
            break;
        case 2:
            fprintf(f, "/^X-Mailer:\\s*(%sBulk|Mass%s) ?%d/ DISCARD\n", w, w, i);
            break;
        case 3:
            fprintf(f, "/^Received:.*\\[10\\.%d\\.%d\\.\\d+\\]/ REJECT Dynamic IP\n", i % 256,
                    (i / 256) % 256);
            break;
        case 4:
            fprintf(f, "/^Message-ID:\\s*<[0-9a-f]{%d}@kit%d\\./ REJECT Spam kit\n", 8 + i % 24,
                    i);
            break;
        default:
            fprintf(f, "/^Reply-To:.*@%s%d-(mail|inbox)\\.(top|xyz)\\b/ REJECT Suspicious Reply-To\n",
                    w, i);
            break;
        }
    }
    fclose(f);
}

static void bench_header(void)
{
    static const int counts[] = {10, 100, 1000, 10000};
    printf("\n## header_checks cost per message (content_check; header, mime_header and "
           "nested_header checks = one pcre: table of N patterns, body_checks empty)\n\n");
    printf("| patterns | load ms | plain us | alt us | attach us | dsn us | mix us/msg | us per "
           "pattern |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
        int n = counts[ci];
        char path[400], spec[420], err[512];
        snprintf(path, sizeof(path), "%s/hc.%d.pcre", tmpdir, n);
        write_header_patterns(path, n);
        snprintf(spec, sizeof(spec), "pcre:%s", path);
        struct src s = {0};
        src_set(&s, "header_checks", spec);
        src_set(&s, "mime_header_checks", spec);
        src_set(&s, "nested_header_checks", spec);
        struct rules_source rs = src_of(&s);
        double t0 = now();
        struct content_rules *cr = content_rules_load(&rs, err, sizeof(err));
        double tl = now() - t0;
        if (!cr) {
            fprintf(stderr, "content_rules_load: %s\n", err);
            exit(1);
        }
        double us[4], mix = 0;
        static const int weight[4] = {4, 3, 2, 1};
        for (int k = 0; k < 4; k++) {
            us[k] = time_per_call(run_content, k, cr) * 1e6;
            mix += us[k] * weight[k] / 10.0;
        }
        printf("| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.3f |\n", n, tl * 1e3, us[0],
               us[1], us[2], us[3], mix, mix / n);
        fflush(stdout);
        content_rules_free(cr);
        unlink(path);
    }
}

/* ---- MIME / full content rules throughput ---- */

static void bench_mime(void)
{
    char a[512], t[512], d[512], h[512], b[512], err[512];
    snprintf(a, sizeof(a), "pcre:%s/rules/attachment_name_checks.pcre", perfdir);
    snprintf(t, sizeof(t), "pcre:%s/rules/attachment_type_checks.pcre", perfdir);
    snprintf(d, sizeof(d), "pcre:%s/rules/decoded_body_checks.pcre", perfdir);
    snprintf(h, sizeof(h), "pcre:%s/rules/header_checks.pcre", perfdir);
    snprintf(b, sizeof(b), "pcre:%s/rules/body_checks.pcre", perfdir);

    struct src ms = {0};
    src_set(&ms, "attachment_name_checks", a);
    src_set(&ms, "attachment_type_checks", t);
    src_set(&ms, "decoded_body_checks", d);
    struct rules_source mrs = src_of(&ms);
    struct mime_rules *mr = mime_rules_load(&mrs, err, sizeof(err));
    if (!mr) {
        fprintf(stderr, "mime_rules_load: %s\n", err);
        exit(1);
    }

    struct src cs = {0};
    src_set(&cs, "header_checks", h);
    src_set(&cs, "mime_header_checks", h);
    src_set(&cs, "nested_header_checks", h);
    src_set(&cs, "body_checks", b);
    struct rules_source crs = src_of(&cs);
    struct content_rules *cr = content_rules_load(&crs, err, sizeof(err));
    if (!cr) {
        fprintf(stderr, "content_rules_load: %s\n", err);
        exit(1);
    }

    printf("\n## MIME rules and content checks throughput (perf/rules tables)\n\n");
    printf("| message | KB | mime_rules_check MB/s | us/msg | content_check (1,000 header + 200 "
           "body pcre) MB/s | us/msg |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < 4; k++) {
        double mb = msgs[k].len / 1e6;
        double s1 = time_per_call(run_mime, k, mr);
        double s2 = time_per_call(run_content, k, cr);
        printf("| %s | %.1f | %.1f | %.0f | %.1f | %.0f |\n", KINDS[k], msgs[k].len / 1024.0,
               mb / s1, s1 * 1e6, mb / s2, s2 * 1e6);
        fflush(stdout);
    }
    mime_rules_free(mr);
    content_rules_free(cr);
}

/* ---- DATA parsing ---- */

struct data_ctx {
    struct smtp_data_in *d;
    size_t chunk;
};

static void run_data(int k, void *vctx)
{
    struct data_ctx *c = vctx;
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    smtp_data_in_reset(c->d);
    size_t off = 0;
    enum smtp_data_in_status st = SMTP_DATA_IN_MORE;
    while (off < msgs[k].wlen) {
        size_t n = msgs[k].wlen - off;
        if (c->chunk && n > c->chunk)
            n = c->chunk;
        evbuffer_add(in, msgs[k].wire + off, n);
        off += n;
        st = smtp_data_in_feed(c->d, in, out);
    }
    if (st != SMTP_DATA_IN_DONE || evbuffer_get_length(out) != msgs[k].len) {
        fprintf(stderr, "data_in: %s: status %d, %zu bytes out, want %zu\n", KINDS[k], (int)st,
                evbuffer_get_length(out), msgs[k].len);
        exit(1);
    }
    evbuffer_free(in);
    evbuffer_free(out);
}

static void bench_data(void)
{
    printf("\n## SMTP DATA parsing (smtp_data_in_feed: unstuffing, framing, limits)\n\n");
    printf("| message | KB on the wire | whole MB/s | 4 KB reads MB/s | ns/line |\n");
    printf("|---|---:|---:|---:|---:|\n");
    struct data_ctx c = {smtp_data_in_new(10240000, 2048), 0};
    for (int k = 0; k < 4; k++) {
        size_t lines = 0;
        for (size_t i = 0; i < msgs[k].wlen; i++)
            lines += msgs[k].wire[i] == '\n';
        c.chunk = 0;
        double s0 = time_per_call(run_data, k, &c);
        c.chunk = 4096;
        double s1 = time_per_call(run_data, k, &c);
        double mb = msgs[k].wlen / 1e6;
        printf("| %s | %.1f | %.0f | %.0f | %.0f |\n", KINDS[k], msgs[k].wlen / 1024.0, mb / s0,
               mb / s1, s1 * 1e9 / lines);
        fflush(stdout);
    }
    smtp_data_in_free(c.d);
}

int main(int argc, char **argv)
{
    const char *only = "access,header,mime,data";
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            min_time = 0.05;
        else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--perf") == 0 && i + 1 < argc)
            perfdir = argv[++i];
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, "usage: micro MSGDIR [--quick] [--time S] [--only LIST] [--perf DIR]\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: micro MSGDIR [--quick] [--time S] [--only LIST] [--perf DIR]\n");
        return 2;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/scand-micro.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    mime_rules_process_init();
    load_msgs(dir);
    printf("# scand micro-benchmarks: messages from %s (", dir);
    for (int k = 0; k < 4; k++)
        printf("%s%s %.1f KB", k ? ", " : "", KINDS[k], msgs[k].len / 1024.0);
    printf("), best of 3 batches of >= %.2f s\n", min_time);
    if (strstr(only, "access"))
        bench_access();
    if (strstr(only, "header"))
        bench_header();
    if (strstr(only, "mime"))
        bench_mime();
    if (strstr(only, "data"))
        bench_data();
    rmdir(tmpdir);
    return 0;
}
