/*
 * restrict_dns.c - Postfix 3.7's DNS-based restrictions (smtpd_check.c:
 * reject_rbl_client and friends, reject_unknown_*), without I/O: every
 * lookup goes through the caller's struct rules_dns (rules_dns.h), which
 * may answer RULES_DNS_PENDING; the restriction then makes no decision in
 * this pass (restrict_eval.c turns the whole check into dns_pending).
 *
 * Policy, as Postfix:
 *  - DNSBL/RHSBL: the A record of the reversed address (or the domain)
 *    under the list's domain. NXDOMAIN or NODATA: not listed. A lookup
 *    that fails temporarily is not a listing either: warning "QUERY: RBL
 *    lookup error: ..." and the restriction does not decide. The
 *    "=d.d.d.d" filter (numbers, [a;b..c] sets) must match one A record.
 *    The TXT record is asked only once the A record lists the client; its
 *    strings (printable, at most 500 bytes, records joined by " / ") are
 *    $rbl_reason. permit_dnswl_client/permit_rhswl_client: a temporary
 *    failure is DEFER_IF_REJECT, and at RCPT they never permit a
 *    recipient that reject_unauth_destination would refuse.
 *  - reject_unknown_helo_hostname: A, AAAA, then MX, the first record
 *    found accepts; a null MX accepts too (an MTA name may have one).
 *    reject_unknown_{sender,recipient}_domain: MX, A, AAAA of the domain
 *    of the resolved address, unless it is ours (mydestination, after
 *    $myorigin for a bare local part and the percent hack) or an address
 *    literal; a null MX rejects with 550 5.7.27 (sender) / 556 5.1.10
 *    (recipient). Statuses combine as dns_lookup_l() does: the first OK
 *    wins, otherwise the "best" failure (try again > null MX > not found).
 *    A temporary failure follows unknown_{address,helo_hostname}_tempfail_
 *    action (defer_if_permit by default), never a 5yz.
 *  - Client names after the queue. XFORWARD NAME is the name the front
 *    Postfix verified (PTR, then A/AAAA listing the address). When it is a
 *    real name, scand takes the client name and the reverse name as known
 *    (status OK) and asks no DNS: that is what Postfix found when the
 *    client connected. When it is "unknown", Postfix's own answer may have
 *    been a temporary failure, so scand asks now, as smtpd_peer.c does at
 *    connect: the PTR of the address gives the reverse name (NXDOMAIN or
 *    NODATA: permanent, try again: temporary); then the A/AAAA records of
 *    that name must list the address (else permanent: "address not listed
 *    for hostname", logged as Postfix logs it). The client name used in
 *    replies and access checks stays "unknown" either way.
 *    reject_unknown_client_hostname replies $unknown_client_reject_code
 *    (450) for a permanent failure and 450 for a temporary one, at once
 *    (Postfix does not postpone client name deferrals). When XFORWARD gave
 *    no usable client address, the client name checks and the DNSBL client
 *    checks do not decide.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/rules_internal.h"
#include "util/xalloc.h"

#define CLASS_CLIENT "Client host"
#define CLASS_REV_CLIENT "Unverified Client host"
#define CLASS_HELO "Helo command"
#define CLASS_SENDER "Sender address"
#define CLASS_RECIPIENT "Recipient address"

#define RBL_TXT_LIMIT 500

/* dns_lookup()'s statuses, ordered as Postfix orders them (higher wins
 * when no type answered OK). */
enum dns_status {
    DNS_ST_PENDING = 1,
    DNS_ST_OK = 0,
    DNS_ST_RETRY = -1,
    DNS_ST_NULLMX = -4,
    DNS_ST_NOTFOUND = -5,
};

/* The three answers of a DNS list lookup. */
enum rbl_status {
    RBL_PENDING,
    RBL_HARD, /* not listed (or filtered out) */
    RBL_SOFT, /* lookup error */
    RBL_LISTED,
};

/* Peer name status, as smtpd_peer.c. */
enum peer_status {
    PEER_PENDING,
    PEER_OK,
    PEER_TEMP,
    PEER_PERM,
    PEER_NO_ADDR, /* no client address from XFORWARD: nothing to look up */
};

struct peer_names {
    enum peer_status reverse_status;
    enum peer_status name_status;
    char *reverse_name; /* "unknown" unless found */
};

const char *rules_dns_type_name(enum rules_dns_type type)
{
    switch (type) {
    case RULES_DNS_A:
        return "A";
    case RULES_DNS_AAAA:
        return "AAAA";
    case RULES_DNS_MX:
        return "MX";
    case RULES_DNS_TXT:
        return "TXT";
    case RULES_DNS_PTR:
        return "PTR";
    }
    return "?";
}

/* Format a line for one of the environment's callbacks (none: nothing). */
static void dns_emit(void (*emit)(void *ctx, const char *text), void *ctx, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));
static void dns_emit(void (*emit)(void *ctx, const char *text), void *ctx, const char *fmt,
                     va_list ap)
{
    char *text;

    if (emit == NULL || vasprintf(&text, fmt, ap) < 0)
        return;
    emit(ctx, text);
    free(text);
}

static void dns_explain(const struct rules_dns_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void dns_explain(const struct rules_dns_env *env, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dns_emit(env->explain, env->ctx, fmt, ap);
    va_end(ap);
}

static void dns_warn(const struct rules_dns_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void dns_warn(const struct rules_dns_env *env, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dns_emit(env->warn, env->ctx, fmt, ap);
    va_end(ap);
}

/* The records of an answer for an explain line: "127.0.0.2, 127.0.0.3". */
static char *dns_answer_text(enum rules_dns_type type, const struct rules_dns_answer *a)
{
    char *text = xstrdup("");

    for (size_t i = 0; i < a->count; i++) {
        char *next;
        const char *rec = a->records[i].text ? a->records[i].text : "";
        if (type == RULES_DNS_MX)
            next = xasprintf("%s%s%u %s", text, i ? ", " : "", a->records[i].pref,
                             *rec ? rec : ". (null MX)");
        else if (type == RULES_DNS_TXT)
            next = xasprintf("%s%s\"%s\"", text, i ? ", " : "", rec);
        else
            next = xasprintf("%s%s%s", text, i ? ", " : "", rec);
        free(text);
        text = next;
    }
    return text;
}

/* One lookup, with its explain line. Without a resolver every lookup
 * fails temporarily. */
static void dns_ask(const struct rules_dns_env *env, const char *name, enum rules_dns_type type,
                    struct rules_dns_answer *a)
{
    const struct rules_dns *dns = env->query->dns;
    const char *type_name = rules_dns_type_name(type);
    char *records;

    memset(a, 0, sizeof(*a));
    if (dns == NULL || dns->lookup == NULL) {
        a->status = RULES_DNS_RETRY;
        a->why = "no resolver";
    } else {
        dns->lookup(dns->ctx, name, type, a);
    }
    switch (a->status) {
    case RULES_DNS_OK:
        records = dns_answer_text(type, a);
        dns_explain(env, "dns: %s %s: %s%s", name, type_name, records,
                    a->from_cache ? " (cached)" : "");
        free(records);
        break;
    case RULES_DNS_NOTFOUND:
        dns_explain(env, "dns: %s %s: NXDOMAIN%s", name, type_name,
                    a->from_cache ? " (cached)" : "");
        break;
    case RULES_DNS_NODATA:
        dns_explain(env, "dns: %s %s: NODATA (no %s record)%s", name, type_name, type_name,
                    a->from_cache ? " (cached)" : "");
        break;
    case RULES_DNS_RETRY:
        dns_explain(env, "dns: %s %s: timeout or SERVFAIL (try again)%s%s", name, type_name,
                    a->why ? ": " : "", a->why ? a->why : "");
        break;
    case RULES_DNS_PENDING:
        dns_explain(env, "dns: %s %s: asked, no answer yet", name, type_name);
        break;
    }
}

/* dns_lookup_x(): what a name that cannot be in the DNS answers. */
static int dns_name_ok(const char *name)
{
    return *name != '\0' && rules_valid_hostname(name) && !rules_valid_hostaddr(name);
}

static enum dns_status dns_status_of(enum rules_dns_type type, const struct rules_dns_answer *a)
{
    switch (a->status) {
    case RULES_DNS_OK:
        if (type == RULES_DNS_MX)
            for (size_t i = 0; i < a->count; i++)
                if (a->records[i].text == NULL || a->records[i].text[0] == '\0')
                    return DNS_ST_NULLMX;
        return DNS_ST_OK;
    case RULES_DNS_NOTFOUND:
    case RULES_DNS_NODATA:
        return DNS_ST_NOTFOUND;
    case RULES_DNS_PENDING:
        return DNS_ST_PENDING;
    case RULES_DNS_RETRY:
        break;
    }
    return DNS_ST_RETRY;
}

/* dns_lookup_l(name, DNS_REQ_FLAG_STOP_OK [| STOP_NULLMX], types...): all
 * types are asked at once (so that they run in parallel), then combined
 * in Postfix's order. */
static enum dns_status dns_lookup_types(const struct rules_dns_env *env, const char *name,
                                        const enum rules_dns_type *types, size_t n, int stop_nullmx)
{
    struct rules_dns_answer answers[3];
    enum dns_status best = DNS_ST_NOTFOUND;

    if (!dns_name_ok(name)) {
        dns_explain(env, "dns: %s: invalid host or domain name (not looked up)", name);
        return DNS_ST_NOTFOUND;
    }
    for (size_t i = 0; i < n; i++)
        dns_ask(env, name, types[i], &answers[i]);
    for (size_t i = 0; i < n; i++) {
        enum dns_status st = dns_status_of(types[i], &answers[i]);
        if (st == DNS_ST_PENDING || st == DNS_ST_OK)
            return st;
        if (st == DNS_ST_NULLMX && stop_nullmx)
            return st;
        if (i == 0 || st > best)
            best = st;
    }
    return best;
}

/* ---------------------------------------------------------------------
 * The "=d.d.d.d" result filter (Postfix's ip_match): four octets, each a
 * number or a [set] of numbers and number..number ranges separated by ';'.
 */

/* Parse one number 0..255; returns the characters read, 0 on error. */
static size_t rbl_number(const char *cp, int *value)
{
    size_t n = 0;
    int v = 0;

    while (isdigit((unsigned char)cp[n]) && n < 4)
        v = v * 10 + (cp[n++] - '0');
    if (n == 0 || n > 3 || v > 255)
        return 0;
    *value = v;
    return n;
}

/* Does octet value match the pattern at *cp (advanced past it)? -1 when
 * the pattern is malformed. */
static int rbl_octet(const char **cp, int value)
{
    const char *p = *cp;
    int match = 0;
    int lo;
    int hi;
    size_t n;

    if (*p != '[') {
        if ((n = rbl_number(p, &lo)) == 0)
            return -1;
        *cp = p + n;
        return lo == value;
    }
    for (p++;;) {
        if ((n = rbl_number(p, &lo)) == 0)
            return -1;
        p += n;
        hi = lo;
        if (p[0] == '.' && p[1] == '.') {
            if ((n = rbl_number(p + 2, &hi)) == 0 || hi < lo)
                return -1;
            p += 2 + n;
        }
        if (value >= lo && value <= hi)
            match = 1;
        if (*p == ']')
            break;
        if (*p != ';')
            return -1;
        p++;
    }
    *cp = p + 1;
    return match;
}

/* 1: addr (dotted quad) matches the filter, 0: no, -1: bad filter. */
static int rbl_filter_match(const char *filter, const char *addr)
{
    unsigned char bytes[4];
    const char *cp = filter;
    int all = 1;

    if (inet_pton(AF_INET, addr, bytes) != 1)
        memset(bytes, 0, sizeof(bytes)), all = 0;
    for (int i = 0; i < 4; i++) {
        int rc = rbl_octet(&cp, bytes[i]);
        if (rc < 0)
            return -1;
        if (rc == 0)
            all = 0;
        if (i < 3 && *cp++ != '.')
            return -1;
    }
    if (*cp != '\0')
        return -1;
    return all;
}

int rules_dns_check_arg(const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');

    if (eq == NULL)
        return 0;
    if (eq == arg) {
        snprintf(err, errlen, "RBL domain is empty: \"%s\"", arg);
        return -1;
    }
    if (rbl_filter_match(eq + 1, "0.0.0.0") < 0) {
        snprintf(err, errlen, "RBL reply error: bad address pattern \"%s\" in \"%s\"", eq + 1, arg);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * DNS lists.
 */

struct rbl_result {
    enum rbl_status status;
    char *txt; /* LISTED with want_txt: the TXT strings, or NULL */
};

/* rbl_pagein() and the filter of find_dnsxl_addr()/find_dnsxl_domain().
 * query is "2.0.0.127.bl.example" (without the "=filter"). */
static void rbl_find(const struct rules_dns_env *env, const char *query, const char *filter,
                     int want_txt, struct rbl_result *res)
{
    struct rules_dns_answer a;
    struct rules_dns_answer t;
    size_t len = 0;
    int matched = filter == NULL;

    memset(res, 0, sizeof(*res));
    dns_ask(env, query, RULES_DNS_A, &a);
    switch (a.status) {
    case RULES_DNS_PENDING:
        res->status = RBL_PENDING;
        return;
    case RULES_DNS_NOTFOUND:
    case RULES_DNS_NODATA:
        res->status = RBL_HARD;
        return;
    case RULES_DNS_RETRY:
        dns_warn(env,
                 "%s: RBL lookup error: Host or domain name not found. Name service error for "
                 "name=%s type=A: %s",
                 query, query, a.why ? a.why : "Host not found, try again");
        res->status = RBL_SOFT;
        return;
    case RULES_DNS_OK:
        break;
    }
    for (size_t i = 0; !matched && i < a.count; i++)
        matched = rbl_filter_match(filter, a.records[i].text ? a.records[i].text : "") == 1;
    if (!matched) {
        dns_explain(env, "dns: no A record of %s matches %s", query, filter);
        res->status = RBL_HARD;
        return;
    }
    res->status = RBL_LISTED;
    if (!want_txt)
        return;
    dns_ask(env, query, RULES_DNS_TXT, &t);
    if (t.status == RULES_DNS_PENDING) {
        res->status = RBL_PENDING;
        return;
    }
    if (t.status != RULES_DNS_OK)
        return;
    res->txt = xcalloc(1, RBL_TXT_LIMIT + 1);
    for (size_t i = 0; i < t.count && len < RBL_TXT_LIMIT; i++) {
        const char *text = t.records[i].text ? t.records[i].text : "";
        for (; *text && len < RBL_TXT_LIMIT; text++)
            res->txt[len++] = isprint((unsigned char)*text) ? *text : ' ';
        if (i + 1 < t.count && RBL_TXT_LIMIT - len > 3) {
            memcpy(res->txt + len, " / ", 3);
            len += 3;
        }
    }
}

/* The reversed address under the list's domain: "4.3.2.1.bl" or the 32
 * nibbles of an IPv6 address. NULL when addr is not an address. */
static char *rbl_addr_query(const char *addr, const char *domain, size_t domain_len)
{
    unsigned char bytes[16];
    char buf[128];
    size_t len = 0;

    if (inet_pton(AF_INET, addr, bytes) == 1) {
        len = (size_t)snprintf(buf, sizeof(buf), "%u.%u.%u.%u.", bytes[3], bytes[2], bytes[1],
                               bytes[0]);
    } else if (inet_pton(AF_INET6, addr, bytes) == 1) {
        for (int i = 15; i >= 0; i--)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%x.%x.", bytes[i] & 0xf,
                                    bytes[i] >> 4);
    } else {
        return NULL;
    }
    return xasprintf("%.*s%.*s", (int)len, buf, (int)domain_len, domain);
}

/* find_dnsxl_domain(): which names are never looked up. Returns the
 * domain part of what, or NULL. */
static const char *rbl_domain_of(const char *what)
{
    const char *domain = strrchr(what, '@');
    const char *suffix;

    if (domain != NULL) {
        domain++;
        if (domain[0] == '[')
            return NULL;
    } else {
        domain = what;
    }
    if (domain[0] == '\0')
        return NULL;
    /* Some RHSBLs refuse names with a numerical last label: skip them. */
    suffix = strrchr(domain, '.');
    suffix = suffix ? suffix + 1 : domain;
    if (strspn(suffix, "0123456789") == strlen(suffix))
        return NULL;
    if (!rules_valid_hostname(domain))
        return NULL;
    return domain;
}

/* ---------------------------------------------------------------------
 * Client names (see the top comment).
 */

static int peer_is_unknown(const char *name)
{
    return name == NULL || strcasecmp(name, "unknown") == 0;
}

/* "d.c.b.a.in-addr.arpa" or the ip6.arpa nibbles; NULL when not an address. */
static char *peer_ptr_name(const char *addr)
{
    unsigned char bytes[16];

    if (inet_pton(AF_INET, addr, bytes) == 1)
        return xasprintf("%u.%u.%u.%u.in-addr.arpa", bytes[3], bytes[2], bytes[1], bytes[0]);
    if (inet_pton(AF_INET6, addr, bytes) == 1) {
        char buf[80];
        size_t len = 0;
        for (int i = 15; i >= 0; i--)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%x.%x.", bytes[i] & 0xf,
                                    bytes[i] >> 4);
        return xasprintf("%sip6.arpa", buf);
    }
    return NULL;
}

/* Does an A/AAAA answer list addr? */
static int peer_answer_lists(const struct rules_dns_answer *a, const char *addr)
{
    unsigned char want[16];
    unsigned char got[16];
    int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    size_t size = family == AF_INET6 ? 16 : 4;

    if (a->status != RULES_DNS_OK || inet_pton(family, addr, want) != 1)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->records[i].text && inet_pton(family, a->records[i].text, got) == 1 &&
            memcmp(want, got, size) == 0)
            return 1;
    return 0;
}

/* The forward check of smtpd_peer.c for a name the PTR gave. */
static enum peer_status peer_verify(const struct rules_dns_env *env, const char *name,
                                    const char *addr)
{
    struct rules_dns_answer a4;
    struct rules_dns_answer a6;

    dns_ask(env, name, RULES_DNS_A, &a4);
    dns_ask(env, name, RULES_DNS_AAAA, &a6);
    if (a4.status == RULES_DNS_PENDING || a6.status == RULES_DNS_PENDING)
        return PEER_PENDING;
    if (peer_answer_lists(&a4, addr) || peer_answer_lists(&a6, addr))
        return PEER_OK;
    if (a4.status == RULES_DNS_RETRY || a6.status == RULES_DNS_RETRY) {
        dns_warn(env, "%s: hostname %s verification failed: Temporary failure in name resolution",
                 addr, name);
        return PEER_TEMP;
    }
    if (a4.status != RULES_DNS_OK && a6.status != RULES_DNS_OK) {
        dns_warn(env, "%s: hostname %s verification failed: Name or service not known", addr, name);
        return PEER_PERM;
    }
    dns_warn(env, "%s: address not listed for hostname %s", addr, name);
    return PEER_PERM;
}

static void peer_names(const struct rules_dns_env *env, struct peer_names *peer)
{
    const struct rules_query *q = env->query;
    struct rules_dns_answer ptr;
    const char *name;
    char *ptr_name;

    memset(peer, 0, sizeof(*peer));
    if (!peer_is_unknown(q->client_name)) {
        peer->reverse_status = peer->name_status = PEER_OK;
        peer->reverse_name = xstrdup(q->client_name);
        return;
    }
    peer->reverse_name = xstrdup("unknown");
    if (q->client_addr == NULL || (ptr_name = peer_ptr_name(q->client_addr)) == NULL) {
        dns_explain(env, "no client address: client name checks do not decide");
        peer->reverse_status = peer->name_status = PEER_NO_ADDR;
        return;
    }
    dns_ask(env, ptr_name, RULES_DNS_PTR, &ptr);
    free(ptr_name);
    switch (ptr.status) {
    case RULES_DNS_PENDING:
        peer->reverse_status = peer->name_status = PEER_PENDING;
        return;
    case RULES_DNS_RETRY:
        peer->reverse_status = peer->name_status = PEER_TEMP;
        return;
    case RULES_DNS_NOTFOUND:
    case RULES_DNS_NODATA:
        peer->reverse_status = peer->name_status = PEER_PERM;
        return;
    case RULES_DNS_OK:
        break;
    }
    /* getnameinfo() gives one name; a numerical or malformed one is refused. */
    name = ptr.count > 0 && ptr.records[0].text ? ptr.records[0].text : "";
    if (!dns_name_ok(name)) {
        peer->reverse_status = peer->name_status = PEER_PERM;
        return;
    }
    free(peer->reverse_name);
    peer->reverse_name = xstrdup(name);
    peer->reverse_status = PEER_OK;
    peer->name_status = peer_verify(env, name, q->client_addr);
}

/* ---------------------------------------------------------------------
 * Outcomes.
 */

static void outcome_set(struct rules_dns_outcome *out, enum rules_dns_action action, int code,
                        const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void outcome_set(struct rules_dns_outcome *out, enum rules_dns_action action, int code,
                        const char *dsn, const char *fmt, ...)
{
    va_list ap;

    out->action = action;
    out->code = code;
    snprintf(out->dsn, sizeof(out->dsn), "%s", dsn);
    free(out->text);
    va_start(ap, fmt);
    if (vasprintf(&out->text, fmt, ap) < 0)
        out->text = NULL;
    va_end(ap);
    if (out->text == NULL)
        out->text = xstrdup("");
}

void rules_dns_outcome_free(struct rules_dns_outcome *out)
{
    free(out->text);
    memset(out, 0, sizeof(*out));
}

/* ---------------------------------------------------------------------
 * rbl_reject_reply().
 */

struct rbl_reply_ctx {
    const struct rules_dns_env *env;
    const char *domain;
    const char *what;
    const char *class;
    const char *txt;
    const char *reverse_name;
    char *namaddr;
    char buf[512];
};

/* smtpd_expand_addr(): $sender, $sender_name, $sender_domain. */
static const char *rbl_expand_addr(struct rbl_reply_ctx *c, const char *addr, const char *suffix)
{
    const char *at;

    if (addr == NULL)
        return "";
    at = strrchr(addr, '@');
    if (*suffix == '\0')
        return *addr ? addr : "<>";
    if (strcmp(suffix, "_name") == 0) {
        if (*addr == '\0')
            return "<>";
        if (at == NULL)
            return addr;
        snprintf(c->buf, sizeof(c->buf), "%.*s", (int)(at - addr), addr);
        return c->buf;
    }
    if (strcmp(suffix, "_domain") == 0)
        return *addr && at ? at + 1 : "";
    return NULL;
}

static const char *rbl_reply_lookup(void *ctx, const char *name)
{
    struct rbl_reply_ctx *c = ctx;
    const struct rules_query *q = c->env->query;
    const struct rules *rules = c->env->rules;

    if (strcmp(name, "rbl_code") == 0) {
        snprintf(c->buf, sizeof(c->buf), "%d", rules->maps_rbl_code);
        return c->buf;
    }
    if (strcmp(name, "rbl_domain") == 0)
        return c->domain;
    if (strcmp(name, "rbl_reason") == 0 || strcmp(name, "rbl_txt") == 0)
        return c->txt;
    if (strcmp(name, "rbl_what") == 0)
        return c->what;
    if (strcmp(name, "rbl_class") == 0)
        return c->class;
    if (strcmp(name, "client") == 0)
        return c->namaddr;
    if (strcmp(name, "client_address") == 0)
        return q->client_addr ? q->client_addr : "unknown";
    if (strcmp(name, "client_name") == 0)
        return q->client_name ? q->client_name : "unknown";
    if (strcmp(name, "client_port") == 0)
        return "unknown";
    if (strcmp(name, "reverse_client_name") == 0)
        return c->reverse_name;
    if (strcmp(name, "helo_name") == 0)
        return q->helo ? q->helo : "";
    if (strncmp(name, "sender", 6) == 0)
        return rbl_expand_addr(c, q->sender, name + 6);
    if (strncmp(name, "recipient", 9) == 0)
        return rbl_expand_addr(c, c->env->recipient, name + 9);
    if (strcmp(name, "localtime") == 0) {
        time_t now = time(NULL);
        struct tm tm;
        if (localtime_r(&now, &tm) == NULL ||
            strftime(c->buf, sizeof(c->buf), "%b %d %H:%M:%S", &tm) == 0)
            c->buf[0] = '\0';
        return c->buf;
    }
    return NULL;
}

/* The rbl_reply_maps template for arg, or NULL; -1 on a lookup error. */
static int rbl_reply_template(const struct rules *rules, const char *arg, char **template)
{
    *template = NULL;
    for (size_t i = 0; i < rules->rbl_reply_map_count; i++) {
        struct table_result result;
        int rc;
        memset(&result, 0, sizeof(result));
        rc = table_lookup(rules->rbl_reply_maps[i], arg, &result);
        if (rc > 0)
            *template = xstrdup(result.value);
        table_result_free(&result);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return 0;
}

/* The reply when what is listed under arg. */
static void rbl_reject_reply(const struct rules_dns_env *env, const char *arg, const char *what,
                             const char *class, const char *txt, const char *reverse_name,
                             struct rules_dns_outcome *out)
{
    struct rbl_reply_ctx c;
    char *template;
    char *reply = NULL;
    char why[512];
    char dsn[16];
    const char *text;

    if (rbl_reply_template(env->rules, arg, &template) < 0) {
        dns_warn(env, "rbl_reply_maps: lookup error for %s", arg);
        outcome_set(out, RULES_DNS_ACT_REJECT, 451, "4.3.5", "Server configuration error");
        out->software = 1;
        return;
    }
    memset(&c, 0, sizeof(c));
    c.env = env;
    c.domain = xstrndup(arg, strcspn(arg, "="));
    c.what = what;
    c.class = class;
    c.txt = txt ? txt : "";
    c.reverse_name = reverse_name;
    c.namaddr = xasprintf("%s[%s]", env->query->client_name ? env->query->client_name : "unknown",
                          env->query->client_addr ? env->query->client_addr : "unknown");
    if (template != NULL &&
        rules_rbl_expand(template, rbl_reply_lookup, &c, &reply, why, sizeof(why)) < 0) {
        dns_warn(env, "rbl_reject_reply: bad rbl reply template for domain %s: %s (%s)", arg,
                 template, why);
        reply = NULL;
    }
    if (reply == NULL && rules_rbl_expand(env->rules->default_rbl_reply, rbl_reply_lookup, &c,
                                          &reply, why, sizeof(why)) < 0)
        reply = xstrdup("450 4.7.1 Service unavailable"); /* checked at load: cannot happen */
    dns_explain(env, "rbl reply: %s", reply);
    if ((reply[0] != '4' && reply[0] != '5') || !isdigit((unsigned char)reply[1]) ||
        !isdigit((unsigned char)reply[2]) || reply[3] != ' ') {
        dns_warn(env, "rbl response code configuration error: %s", reply);
        outcome_set(out, RULES_DNS_ACT_REJECT, 450, "4.7.1", "Service unavailable");
    } else {
        text = rules_dsn_split(reply + 4, "4.7.1", dsn, sizeof(dsn));
        rules_dsn_fix(dsn, class);
        outcome_set(out, RULES_DNS_ACT_REJECT, atoi(reply), dsn, "%s",
                    *text ? text : "Service unavailable");
    }
    free(reply);
    free(template);
    free((char *)c.domain);
    free(c.namaddr);
}

/* ---------------------------------------------------------------------
 * The restrictions.
 */

/* The "=filter" of arg and the domain before it. */
static const char *rbl_split_arg(const char *arg, size_t *domain_len)
{
    const char *eq = strchr(arg, '=');

    *domain_len = eq ? (size_t)(eq - arg) : strlen(arg);
    return eq ? eq + 1 : NULL;
}

/* reject_rbl_addr() / permit_dnswl_addr() / reject_rbl_domain() /
 * permit_dnswl_domain(). what: the address or name (or e-mail address);
 * by_addr: reverse an IP address. */
static void rbl_check(const struct rules_dns_env *env, const char *arg, const char *what,
                      int by_addr, const char *class, int permit, const char *reverse_name,
                      struct rules_dns_outcome *out)
{
    size_t domain_len;
    const char *filter = rbl_split_arg(arg, &domain_len);
    struct rbl_result res;
    char *query;

    if (by_addr) {
        query = rbl_addr_query(what, arg, domain_len);
        if (query == NULL) {
            dns_explain(env, "no client address: not looked up");
            return;
        }
    } else {
        const char *domain = rbl_domain_of(what);
        if (domain == NULL) {
            dns_explain(env, "%s: not a name a DNS list can hold: not looked up", what);
            return;
        }
        query = xasprintf("%s.%.*s", domain, (int)domain_len, arg);
    }
    rbl_find(env, query, filter, !permit, &res);
    free(query);
    switch (res.status) {
    case RBL_PENDING:
        out->action = RULES_DNS_ACT_PENDING;
        break;
    case RBL_HARD:
        dns_explain(env, "%s is not listed by %s", what, arg);
        break;
    case RBL_SOFT:
        if (permit)
            outcome_set(out, RULES_DNS_ACT_DEFER_IF_REJECT, 450, "4.7.1",
                        "<%s>: %s rejected: Service unavailable", what, class);
        else
            dns_explain(env, "lookup error: %s is not taken as listed", what);
        break;
    case RBL_LISTED:
        dns_explain(env, "%s is listed by %s", what, arg);
        if (permit)
            out->action = RULES_DNS_ACT_OK;
        else
            rbl_reject_reply(env, arg, what, class, res.txt, reverse_name, out);
        break;
    }
    free(res.txt);
}

/* permit_dnswl_*: "Safety: don't allowlist unauthorized recipients." */
static int rbl_permit_unsafe(const struct rules_dns_env *env, struct rules_dns_outcome *out)
{
    int rc;

    if (!env->at_rcpt || env->recipient == NULL)
        return 0;
    rc = rules_auth_destination(env->rules, env->recipient);
    if (rc < 0) {
        outcome_set(out, RULES_DNS_ACT_LOOKUP_FAILURE, 451, "4.3.0", "%s", env->recipient);
        return 1;
    }
    if (rc == 0)
        dns_explain(env, "<%s> is not an authorized destination: never allowlisted",
                    env->recipient);
    return rc == 0;
}

/* The domain of an address as Postfix's resolver leaves it; NULL when the
 * address is ours (or a literal): nothing to look up. *failed on a
 * mydestination lookup error. */
static char *unknown_address_domain(const struct rules *rules, const char *addr, int *failed)
{
    char *copy = xstrdup(addr);
    char *domain = NULL;

    *failed = 0;
    for (char *cp = copy; *cp; cp++)
        *cp = (char)tolower((unsigned char)*cp);
    for (int hops = 0; hops < 20; hops++) {
        char *at = strrchr(copy, '@');
        char *percent;
        size_t len;
        int rc;
        free(domain);
        domain = xstrdup(at != NULL && at[1] != '\0' ? at + 1 : rules->myorigin);
        len = strlen(domain);
        if (len > 1 && domain[len - 1] == '.' && domain[len - 2] != '.')
            domain[len - 1] = '\0';
        if (*domain == '\0' || domain[0] == '[')
            break;
        if ((rc = rules_match_domain(&rules->mydestination, domain)) < 0) {
            *failed = 1;
            break;
        }
        if (rc == 0) {
            free(copy);
            return domain;
        }
        /* Ours; with the percent hack user%host@ours goes to host. */
        if (at == NULL || !rules->allow_percent_hack || (percent = strrchr(copy, '%')) == NULL ||
            percent > at)
            break;
        *at = '\0';
        *percent = '@';
    }
    free(copy);
    free(domain);
    return NULL;
}

/* reject_unknown_address() and reject_unknown_mailhost(). */
static void unknown_mailhost(const struct rules_dns_env *env, const char *addr, int sender,
                             struct rules_dns_outcome *out)
{
    static const enum rules_dns_type types[] = {RULES_DNS_MX, RULES_DNS_A, RULES_DNS_AAAA};
    const char *class = sender ? CLASS_SENDER : CLASS_RECIPIENT;
    const char *dsn = sender ? "4.1.8" : "4.1.2";
    int failed;
    char *domain = unknown_address_domain(env->rules, addr, &failed);
    enum dns_status st;

    if (failed) {
        outcome_set(out, RULES_DNS_ACT_LOOKUP_FAILURE, 451, "4.3.0", "%s", addr);
        return;
    }
    if (domain == NULL) {
        dns_explain(env, "<%s>: local destination or address literal: not looked up", addr);
        return;
    }
    st = dns_lookup_types(env, domain, types, 3, 1);
    switch (st) {
    case DNS_ST_PENDING:
        out->action = RULES_DNS_ACT_PENDING;
        break;
    case DNS_ST_OK:
        dns_explain(env, "domain %s has MX or address records", domain);
        break;
    case DNS_ST_NULLMX:
        outcome_set(out, RULES_DNS_ACT_REJECT, sender ? 550 : 556, sender ? "4.7.27" : "4.1.10",
                    "<%s>: %s rejected: Domain %s does not accept mail (nullMX)", addr, class,
                    domain);
        break;
    case DNS_ST_RETRY:
        outcome_set(out, RULES_DNS_ACT_TEMPFAIL, 450, dsn, "<%s>: %s rejected: Domain not found",
                    addr, class);
        out->tempfail = env->rules->unknown_address_tempfail;
        break;
    case DNS_ST_NOTFOUND:
        outcome_set(out, RULES_DNS_ACT_REJECT, env->rules->unknown_address_code, dsn,
                    "<%s>: %s rejected: Domain not found", addr, class);
        break;
    }
    free(domain);
}

/* reject_unknown_hostname() for the HELO name. */
static void unknown_helo(const struct rules_dns_env *env, const char *helo,
                         struct rules_dns_outcome *out)
{
    static const enum rules_dns_type types[] = {RULES_DNS_A, RULES_DNS_AAAA, RULES_DNS_MX};

    switch (dns_lookup_types(env, helo, types, 3, 0)) {
    case DNS_ST_PENDING:
        out->action = RULES_DNS_ACT_PENDING;
        break;
    case DNS_ST_OK:
    case DNS_ST_NULLMX:
        dns_explain(env, "%s has address or MX records", helo);
        break;
    case DNS_ST_RETRY:
        outcome_set(out, RULES_DNS_ACT_TEMPFAIL, 450, "4.7.1", "<%s>: %s rejected: Host not found",
                    helo, CLASS_HELO);
        out->tempfail = env->rules->unknown_helo_tempfail;
        break;
    case DNS_ST_NOTFOUND:
        outcome_set(out, RULES_DNS_ACT_REJECT, env->rules->unknown_hostname_code, "4.7.1",
                    "<%s>: %s rejected: Host not found", helo, CLASS_HELO);
        break;
    }
}

/* reject_unknown_client() and reject_unknown_reverse_name(). */
static void unknown_client(const struct rules_dns_env *env, const struct peer_names *peer,
                           int reverse, struct rules_dns_outcome *out)
{
    enum peer_status st = reverse ? peer->reverse_status : peer->name_status;
    const char *addr = env->query->client_addr;

    switch (st) {
    case PEER_PENDING:
        out->action = RULES_DNS_ACT_PENDING;
        return;
    case PEER_OK:
        dns_explain(env, "client %s name: %s", reverse ? "reverse" : "verified",
                    reverse ? peer->reverse_name : env->query->client_name);
        return;
    case PEER_NO_ADDR:
        return;
    case PEER_TEMP:
    case PEER_PERM:
        break;
    }
    outcome_set(out, RULES_DNS_ACT_REJECT, st == PEER_PERM ? env->rules->unknown_client_code : 450,
                reverse ? "4.7.1" : "4.7.25",
                "Client host rejected: cannot find your %shostname, [%s]",
                reverse ? "reverse " : "", addr);
}

static void maps_rbl(const struct rules_dns_env *env, const char *reverse_name,
                     struct rules_dns_outcome *out)
{
    const char *addr = env->query->client_addr ? env->query->client_addr : "unknown";

    for (size_t i = 0; i < env->rules->maps_rbl_domain_count; i++) {
        rbl_check(env, env->rules->maps_rbl_domains[i], addr, 1, CLASS_CLIENT, 0, reverse_name,
                  out);
        if (out->action == RULES_DNS_ACT_PENDING || out->action == RULES_DNS_ACT_REJECT)
            return;
    }
}

void rules_dns_eval(const struct rules_dns_env *env, const struct rules_item *item,
                    struct rules_dns_outcome *out)
{
    const struct rules_query *q = env->query;
    const char *addr = q->client_addr ? q->client_addr : "unknown";
    const char *arg = item->arg ? item->arg : "";
    struct peer_names peer;

    memset(out, 0, sizeof(*out));
    memset(&peer, 0, sizeof(peer));
    switch (item->op) {
    case RULES_OP_UNKNOWN_CLIENT:
    case RULES_OP_UNKNOWN_REVERSE:
    case RULES_OP_RHSBL_REVERSE_CLIENT:
        peer_names(env, &peer);
        break;
    default:
        /* $reverse_client_name in a reply: the name, when XFORWARD has one. */
        peer.reverse_name = xstrdup(q->client_name ? q->client_name : "unknown");
        break;
    }
    switch (item->op) {
    case RULES_OP_RBL_CLIENT:
        rbl_check(env, arg, addr, 1, CLASS_CLIENT, 0, peer.reverse_name, out);
        break;
    case RULES_OP_DNSWL_CLIENT:
        if (!rbl_permit_unsafe(env, out))
            rbl_check(env, arg, addr, 1, CLASS_CLIENT, 1, peer.reverse_name, out);
        break;
    case RULES_OP_RHSBL_CLIENT:
        if (!peer_is_unknown(q->client_name))
            rbl_check(env, arg, q->client_name, 0, CLASS_CLIENT, 0, peer.reverse_name, out);
        break;
    case RULES_OP_RHSWL_CLIENT:
        if (!peer_is_unknown(q->client_name) && !rbl_permit_unsafe(env, out))
            rbl_check(env, arg, q->client_name, 0, CLASS_CLIENT, 1, peer.reverse_name, out);
        break;
    case RULES_OP_RHSBL_REVERSE_CLIENT:
        if (peer.reverse_status == PEER_PENDING)
            out->action = RULES_DNS_ACT_PENDING;
        else if (!peer_is_unknown(peer.reverse_name))
            rbl_check(env, arg, peer.reverse_name, 0, CLASS_REV_CLIENT, 0, peer.reverse_name, out);
        break;
    case RULES_OP_RHSBL_HELO:
        if (q->helo != NULL)
            rbl_check(env, arg, q->helo, 0, CLASS_HELO, 0, peer.reverse_name, out);
        break;
    case RULES_OP_RHSBL_SENDER:
        if (q->sender != NULL && *q->sender != '\0')
            rbl_check(env, arg, q->sender, 0, CLASS_SENDER, 0, peer.reverse_name, out);
        break;
    case RULES_OP_RHSBL_RECIPIENT:
        if (env->recipient != NULL)
            rbl_check(env, arg, env->recipient, 0, CLASS_RECIPIENT, 0, peer.reverse_name, out);
        break;
    case RULES_OP_MAPS_RBL:
        maps_rbl(env, peer.reverse_name, out);
        break;
    case RULES_OP_UNKNOWN_CLIENT:
        unknown_client(env, &peer, 0, out);
        break;
    case RULES_OP_UNKNOWN_REVERSE:
        unknown_client(env, &peer, 1, out);
        break;
    case RULES_OP_UNKNOWN_HELO:
        if (q->helo != NULL)
            unknown_helo(env, q->helo, out);
        break;
    case RULES_OP_UNKNOWN_SENDER:
        if (q->sender != NULL && *q->sender != '\0')
            unknown_mailhost(env, q->sender, 1, out);
        break;
    case RULES_OP_UNKNOWN_RCPT:
        if (env->recipient != NULL)
            unknown_mailhost(env, env->recipient, 0, out);
        break;
    default:
        break;
    }
    free(peer.reverse_name);
}
