/*
 * dns.c - the worker's asynchronous resolver, cache and per-check
 * waiters; see dns.h for the contract.
 *
 * Why c-ares and not libevent's evdns: evdns only resolves A, AAAA and
 * PTR, and the restrictions also need MX and TXT, and the SOA of negative
 * answers for their TTL (RFC 2308). c-ares speaks the protocol; this file
 * drives it from the worker's libevent loop: c-ares reports the sockets it
 * wants watched (ARES_OPT_SOCK_STATE_CB), each gets one persistent event
 * that calls ares_process_fd(), and one timer, re-armed from ares_timeout()
 * after every call into c-ares, processes its retransmissions and
 * timeouts. Nothing here blocks.
 *
 * Queries use ares_query(): the name is taken as fully qualified, no search
 * list is applied. A truncated UDP answer (TC) is retried over TCP by c-ares
 * itself (ares_process.c, unless ARES_FLAG_IGNTC, which we do not set).
 * c-ares doubles the timeout of each round of retries over the server list,
 * so one lookup may last query_timeout_ms * (2^attempts - 1) per server.
 *
 * The reply's bytes become a struct dns_result in dns_reply.c (I/O-free,
 * fuzzed on its own), which states the policy: records of the type are
 * OK, NXDOMAIN is NOTFOUND, NOERROR without them NODATA, everything else
 * RETRY, never a reason to reject.
 *
 * Cache: keyed by (lower-cased name, type), for the TTL dns_reply.c gives
 * (the records' smallest, or the SOA's negative TTL; at most one day).
 * RETRY is never cached. The cache holds at most cache_size answers,
 * least recently used go first.
 * Identical queries in flight are sent once; each waiter that asked joins
 * the query. A waiter that did not send the query itself (cache hit, or a
 * query another waiter sent) sees from_cache = 1.
 *
 * Waiters: each keeps a copy of every answer it gave, so cache eviction or
 * expiry never changes what a transaction saw. Its budget counts the time
 * spent inside dns_waiter_wait(); when spent, whatever is outstanding
 * answers RETRY "DNS time budget spent", and so does every later lookup
 * that the cache cannot answer. A waiter freed with lookups in flight only
 * leaves them: c-ares cannot cancel one query, so it completes and fills
 * the cache for the next message.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ares.h>
#include <event2/event.h>

#include "scand/dns.h"
#include "scand/dns_reply.h"
#include "util/msg.h"
#include "util/xalloc.h"

static const char why_budget[] = "DNS time budget spent";

struct dns_cache_node {
    char *name;
    enum rules_dns_type type;
    struct dns_result result;
    long long expires_ms;
    struct dns_cache_node *hash_next;
    struct dns_cache_node *lru_prev, *lru_next; /* head: most recently used */
};

struct dns_query;

/* One name and type a waiter asked for. */
struct dns_entry {
    struct dns_waiter *waiter;
    char *name;
    enum rules_dns_type type;
    int pending;
    int from_cache;
    struct dns_result result; /* when !pending */
    struct dns_query *query;  /* when pending */
    struct dns_entry *query_prev, *query_next;
    struct dns_entry *next; /* the waiter's list */
};

/* One c-ares query in flight, and the entries waiting for it. */
struct dns_query {
    struct dns *dns;
    char *name;
    enum rules_dns_type type;
    struct dns_entry *entries;
    struct dns_query *prev, *next;
};

struct dns_sock {
    ares_socket_t fd;
    struct event *ev;
    struct dns_sock *next;
};

struct dns {
    struct event_base *base;
    ares_channel channel;
    int channel_ok;
    struct event *timer;
    struct dns_sock *socks;
    struct dns_query *queries;
    int time_limit_ms;
    size_t cache_size;
    size_t cache_count;
    size_t bucket_count; /* a power of two */
    struct dns_cache_node **buckets;
    struct dns_cache_node *lru_head, *lru_tail;
};

struct dns_waiter {
    struct dns *dns;
    struct rules_dns view;
    struct dns_entry *entries;
    size_t pending;
    long long spent_ms;
    long long
        time_limit_ms; /* the budget: dns_message_time_limit, or what the transaction has left */
    long long wait_start_ms;
    int waiting;
    struct event *budget_timer;
    struct event *done_event;
    void (*done)(void *arg);
    void *done_arg;
};

/* ---- small helpers ---- */

static long long dns_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dns_lower_dup(const char *name)
{
    char *copy = xstrdup(name);

    for (char *cp = copy; *cp; cp++)
        *cp = (char)tolower((unsigned char)*cp);
    return copy;
}

/* A name c-ares can put in a question: labels of 1..63 octets, at most 253
 * in all, printable, no blanks (the DNS allows more; Postfix's
 * valid_hostname() less). */
static int dns_name_ok(const char *name)
{
    size_t len = strlen(name);
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (const char *cp = name; *cp; cp++) {
        unsigned char ch = (unsigned char)*cp;
        if (ch == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (ch <= ' ' || ch >= 0x7f || ch == '\\') {
            return 0;
        } else if (++label > 63) {
            return 0;
        }
    }
    return label > 0;
}

/* ---- servers ---- */

/* One "addr", "addr:port", "[v6]" or "[v6]:port" of dns_servers, checked;
 * appended to csv in c-ares' form. */
static int dns_server_one(const char *item, size_t len, char *csv, size_t csvlen, char *err,
                          size_t errlen)
{
    char text[128];
    char host[128];
    const char *port = NULL;
    unsigned char addr[sizeof(struct in6_addr)];
    int v6 = 0;

    if (len >= sizeof(text)) {
        snprintf(err, errlen, "bad DNS server \"%.*s\": too long", (int)len, item);
        return -1;
    }
    memcpy(text, item, len);
    text[len] = '\0';
    if (text[0] == '[') {
        char *close = strchr(text, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            snprintf(err, errlen, "bad DNS server \"%s\": expected [address]:port", text);
            return -1;
        }
        *close = '\0';
        snprintf(host, sizeof(host), "%s", text + 1);
        port = close[1] == ':' ? close + 2 : NULL;
        *close = ']';
        v6 = 1;
    } else if (strchr(text, ':') != NULL && strchr(strchr(text, ':') + 1, ':') != NULL) {
        snprintf(host, sizeof(host), "%s", text); /* bare IPv6, no port */
        v6 = 1;
    } else {
        char *colon = strchr(text, ':');
        if (colon != NULL)
            *colon = '\0';
        snprintf(host, sizeof(host), "%s", text);
        port = colon != NULL ? colon + 1 : NULL;
        if (colon != NULL)
            *colon = ':';
    }
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1) {
        snprintf(err, errlen, "bad DNS server \"%s\": not an IP%s address", text, v6 ? "v6" : "v4");
        return -1;
    }
    if (port != NULL) {
        char *end;
        long value = strtol(port, &end, 10);
        if (*port < '0' || *port > '9' || *end != '\0' || value < 1 || value > 65535) {
            snprintf(err, errlen, "bad DNS server \"%s\": bad port", text);
            return -1;
        }
    }
    if (csv != NULL) {
        size_t used = strlen(csv);
        int n = snprintf(csv + used, csvlen - used, "%s%s%s%s%s%s", used ? "," : "", v6 ? "[" : "",
                         host, v6 ? "]" : "", port ? ":" : "", port ? port : "");
        if (n < 0 || (size_t)n >= csvlen - used) {
            snprintf(err, errlen, "dns_servers: too long");
            return -1;
        }
    }
    return 0;
}

/* Split on commas and white space (the parameter's ", " style). */
static int dns_servers_parse(const char *servers, char *csv, size_t csvlen, char *err,
                             size_t errlen)
{
    const char *cp = servers != NULL ? servers : "";

    if (csv != NULL && csvlen > 0)
        csv[0] = '\0';
    for (;;) {
        size_t span;
        cp += strspn(cp, ", \t\r\n");
        if (*cp == '\0')
            return 0;
        span = strcspn(cp, ", \t\r\n");
        if (dns_server_one(cp, span, csv, csvlen, err, errlen) < 0)
            return -1;
        cp += span;
    }
}

int dns_servers_valid(const char *servers, char *err, size_t errlen)
{
    return dns_servers_parse(servers, NULL, 0, err, errlen);
}

/* ---- c-ares on the event loop ---- */

static void dns_timer_update(struct dns *dns)
{
    struct timeval tv;

    if (!dns->channel_ok)
        return;
    if (ares_timeout(dns->channel, NULL, &tv) != NULL)
        evtimer_add(dns->timer, &tv);
    else
        evtimer_del(dns->timer);
}

static void dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    (void)fd;
    (void)what;
    ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_timer_update(dns);
}

static void dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    ares_process_fd(dns->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    dns_timer_update(dns);
}

static void dns_sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
    struct dns *dns = arg;
    struct dns_sock **link = &dns->socks;
    struct dns_sock *sock;

    while (*link != NULL && (*link)->fd != fd)
        link = &(*link)->next;
    sock = *link;
    if (!readable && !writable) {
        if (sock != NULL) {
            *link = sock->next;
            event_free(sock->ev);
            free(sock);
        }
        return;
    }
    if (sock == NULL) {
        sock = xcalloc(1, sizeof(*sock));
        sock->fd = fd;
        sock->next = dns->socks;
        dns->socks = sock;
    } else {
        event_free(sock->ev);
    }
    sock->ev = event_new(dns->base, fd,
                         (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST),
                         dns_sock_cb, dns);
    if (sock->ev == NULL || event_add(sock->ev, NULL) < 0)
        msg_fatal("dns: cannot watch a resolver socket");
}

/* ---- cache ---- */

static size_t dns_hash(const char *name, enum rules_dns_type type)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const char *cp = name; *cp; cp++)
        h = (h ^ (unsigned char)*cp) * 1099511628211ULL;
    h = (h ^ (unsigned)type) * 1099511628211ULL;
    return (size_t)h;
}

static struct dns_cache_node **dns_cache_slot(struct dns *dns, const char *name,
                                              enum rules_dns_type type)
{
    struct dns_cache_node **link = &dns->buckets[dns_hash(name, type) & (dns->bucket_count - 1)];

    while (*link != NULL && ((*link)->type != type || strcmp((*link)->name, name) != 0))
        link = &(*link)->hash_next;
    return link;
}

static void dns_lru_unlink(struct dns *dns, struct dns_cache_node *node)
{
    if (node->lru_prev != NULL)
        node->lru_prev->lru_next = node->lru_next;
    else
        dns->lru_head = node->lru_next;
    if (node->lru_next != NULL)
        node->lru_next->lru_prev = node->lru_prev;
    else
        dns->lru_tail = node->lru_prev;
    node->lru_prev = node->lru_next = NULL;
}

static void dns_lru_push(struct dns *dns, struct dns_cache_node *node)
{
    node->lru_prev = NULL;
    node->lru_next = dns->lru_head;
    if (dns->lru_head != NULL)
        dns->lru_head->lru_prev = node;
    dns->lru_head = node;
    if (dns->lru_tail == NULL)
        dns->lru_tail = node;
}

static void dns_cache_remove(struct dns *dns, struct dns_cache_node **slot)
{
    struct dns_cache_node *node = *slot;

    *slot = node->hash_next;
    dns_lru_unlink(dns, node);
    dns_result_clear(&node->result);
    free(node->name);
    free(node);
    dns->cache_count--;
}

/* The fresh cached answer, made most recently used; NULL when none. */
static struct dns_cache_node *dns_cache_get(struct dns *dns, const char *name,
                                            enum rules_dns_type type)
{
    struct dns_cache_node **slot;

    if (dns->cache_size == 0)
        return NULL;
    slot = dns_cache_slot(dns, name, type);
    if (*slot == NULL)
        return NULL;
    if ((*slot)->expires_ms <= dns_now_ms()) {
        dns_cache_remove(dns, slot);
        return NULL;
    }
    dns_lru_unlink(dns, *slot);
    dns_lru_push(dns, *slot);
    return *slot;
}

static void dns_cache_put(struct dns *dns, const char *name, enum rules_dns_type type,
                          const struct dns_result *result)
{
    struct dns_cache_node **slot;
    struct dns_cache_node *node;

    if (dns->cache_size == 0 || result->status == RULES_DNS_RETRY || result->ttl == 0)
        return;
    slot = dns_cache_slot(dns, name, type);
    if (*slot != NULL)
        dns_cache_remove(dns, slot);
    while (dns->cache_count >= dns->cache_size)
        dns_cache_remove(dns, dns_cache_slot(dns, dns->lru_tail->name, dns->lru_tail->type));
    slot = dns_cache_slot(dns, name, type);
    node = xcalloc(1, sizeof(*node));
    node->name = xstrdup(name);
    node->type = type;
    dns_result_copy(&node->result, result);
    node->expires_ms = dns_now_ms() + (long long)result->ttl * 1000;
    *slot = node;
    dns_lru_push(dns, node);
    dns->cache_count++;
}

/* ---- waiters ---- */

static void dns_waiter_finish_wait(struct dns_waiter *waiter)
{
    if (!waiter->waiting)
        return;
    evtimer_del(waiter->budget_timer);
    waiter->spent_ms += dns_now_ms() - waiter->wait_start_ms;
    waiter->wait_start_ms = 0;
    event_active(waiter->done_event, EV_TIMEOUT, 1);
}

static void dns_entry_answer(struct dns_entry *entry, const struct dns_result *result)
{
    struct dns_waiter *waiter = entry->waiter;

    dns_result_copy(&entry->result, result);
    entry->pending = 0;
    entry->query = NULL;
    entry->query_prev = entry->query_next = NULL;
    if (--waiter->pending == 0)
        dns_waiter_finish_wait(waiter);
}

static void dns_query_unlink_entry(struct dns_entry *entry)
{
    struct dns_query *query = entry->query;

    if (entry->query_prev != NULL)
        entry->query_prev->query_next = entry->query_next;
    else
        query->entries = entry->query_next;
    if (entry->query_next != NULL)
        entry->query_next->query_prev = entry->query_prev;
    entry->query = NULL;
    entry->query_prev = entry->query_next = NULL;
}

static void dns_query_free(struct dns_query *query)
{
    struct dns *dns = query->dns;

    if (query->prev != NULL)
        query->prev->next = query->next;
    else
        dns->queries = query->next;
    if (query->next != NULL)
        query->next->prev = query->prev;
    free(query->name);
    free(query);
}

static void dns_query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_query *query = arg;
    struct dns_result result;

    (void)timeouts;
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        /* dns_free(): the waiters are gone already. */
        dns_query_free(query);
        return;
    }
    dns_reply_parse(status, abuf, alen, query->type, &result);
    dns_cache_put(query->dns, query->name, query->type, &result);
    while (query->entries != NULL) {
        struct dns_entry *entry = query->entries;
        dns_query_unlink_entry(entry);
        dns_entry_answer(entry, &result);
    }
    dns_result_clear(&result);
    dns_query_free(query);
}

static struct dns_query *dns_query_find(struct dns *dns, const char *name, enum rules_dns_type type)
{
    for (struct dns_query *query = dns->queries; query != NULL; query = query->next)
        if (query->type == type && strcmp(query->name, name) == 0)
            return query;
    return NULL;
}

static void dns_query_join(struct dns_query *query, struct dns_entry *entry)
{
    entry->query = query;
    entry->query_prev = NULL;
    entry->query_next = query->entries;
    if (query->entries != NULL)
        query->entries->query_prev = entry;
    query->entries = entry;
}

/* Send a query for entry. c-ares may answer at once (from inside
 * ares_query), so entry is joined before. */
static void dns_query_start(struct dns *dns, struct dns_entry *entry)
{
    struct dns_query *query = xcalloc(1, sizeof(*query));

    query->dns = dns;
    query->name = xstrdup(entry->name);
    query->type = entry->type;
    query->next = dns->queries;
    if (dns->queries != NULL)
        dns->queries->prev = query;
    dns->queries = query;
    dns_query_join(query, entry);
    ares_query(dns->channel, query->name, ns_c_in, dns_reply_qtype(query->type), dns_query_done,
               query);
    dns_timer_update(dns);
}

static struct dns_entry *dns_waiter_find(struct dns_waiter *waiter, const char *name,
                                         enum rules_dns_type type)
{
    for (struct dns_entry *entry = waiter->entries; entry != NULL; entry = entry->next)
        if (entry->type == type && strcmp(entry->name, name) == 0)
            return entry;
    return NULL;
}

static int dns_waiter_spent(const struct dns_waiter *waiter)
{
    long long spent = waiter->spent_ms;

    if (waiter->waiting)
        spent += dns_now_ms() - waiter->wait_start_ms;
    return spent >= waiter->time_limit_ms;
}

static void dns_answer_view(const struct dns_entry *entry, struct rules_dns_answer *answer)
{
    memset(answer, 0, sizeof(*answer));
    if (entry->pending) {
        answer->status = RULES_DNS_PENDING;
        return;
    }
    answer->status = entry->result.status;
    answer->records = entry->result.count ? entry->result.records : NULL;
    answer->count = entry->result.count;
    answer->ttl = entry->result.ttl;
    answer->from_cache = entry->from_cache;
    answer->why = entry->result.why;
}

static struct dns_entry *dns_entry_new(struct dns_waiter *waiter, const char *name,
                                       enum rules_dns_type type)
{
    struct dns_entry *entry = xcalloc(1, sizeof(*entry));

    entry->waiter = waiter;
    entry->name = xstrdup(name);
    entry->type = type;
    entry->next = waiter->entries;
    waiter->entries = entry;
    return entry;
}

/* Fill a new entry: from the cache, the budget, an invalid name, a query in
 * flight, or a query of its own. */
static void dns_entry_resolve(struct dns_waiter *waiter, struct dns_entry *entry)
{
    struct dns *dns = waiter->dns;
    struct dns_cache_node *node;
    struct dns_query *query;

    if ((node = dns_cache_get(dns, entry->name, entry->type)) != NULL) {
        long long left = (node->expires_ms - dns_now_ms() + 999) / 1000;
        dns_result_copy(&entry->result, &node->result);
        entry->result.ttl = (unsigned)(left > 0 ? left : 0);
        entry->from_cache = 1;
        return;
    }
    if (!dns_name_ok(entry->name)) {
        dns_result_set(&entry->result, RULES_DNS_NOTFOUND, dns_why_invalid);
        return;
    }
    if (dns_waiter_spent(waiter)) {
        dns_result_set(&entry->result, RULES_DNS_RETRY, why_budget);
        return;
    }
    entry->pending = 1;
    waiter->pending++;
    if ((query = dns_query_find(dns, entry->name, entry->type)) != NULL) {
        entry->from_cache = 1;
        dns_query_join(query, entry);
        return;
    }
    dns_query_start(dns, entry);
}

static void dns_waiter_lookup(void *ctx, const char *name, enum rules_dns_type type,
                              struct rules_dns_answer *answer)
{
    struct dns_waiter *waiter = ctx;
    char *key = dns_lower_dup(name);
    struct dns_entry *entry;
    size_t len = strlen(key);

    /* The contract says no trailing dot; tolerate one. */
    if (len > 1 && key[len - 1] == '.')
        key[len - 1] = '\0';
    if ((entry = dns_waiter_find(waiter, key, type)) == NULL) {
        entry = dns_entry_new(waiter, key, type);
        dns_entry_resolve(waiter, entry);
    }
    free(key);
    dns_answer_view(entry, answer);
}

static void dns_waiter_budget_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dns_waiter *waiter = arg;
    struct dns_result spent;

    (void)fd;
    (void)what;
    dns_result_set(&spent, RULES_DNS_RETRY, why_budget);
    for (struct dns_entry *entry = waiter->entries; entry != NULL; entry = entry->next) {
        if (!entry->pending)
            continue;
        dns_query_unlink_entry(entry);
        dns_entry_answer(entry, &spent);
    }
}

static void dns_waiter_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dns_waiter *waiter = arg;
    void (*done)(void *) = waiter->done;

    (void)fd;
    (void)what;
    waiter->waiting = 0;
    waiter->done = NULL;
    if (done != NULL)
        done(waiter->done_arg);
}

struct dns_waiter *dns_waiter_new(struct dns *dns)
{
    struct dns_waiter *waiter = xcalloc(1, sizeof(*waiter));

    waiter->dns = dns;
    waiter->time_limit_ms = dns->time_limit_ms;
    waiter->view.lookup = dns_waiter_lookup;
    waiter->view.ctx = waiter;
    waiter->budget_timer = evtimer_new(dns->base, dns_waiter_budget_cb, waiter);
    waiter->done_event = event_new(dns->base, -1, 0, dns_waiter_done_cb, waiter);
    if (waiter->budget_timer == NULL || waiter->done_event == NULL)
        msg_fatal("dns: cannot make waiter events");
    return waiter;
}

void dns_waiter_free(struct dns_waiter *waiter)
{
    struct dns_entry *entry;

    if (waiter == NULL)
        return;
    while ((entry = waiter->entries) != NULL) {
        waiter->entries = entry->next;
        if (entry->pending)
            dns_query_unlink_entry(entry); /* the query goes on, for the cache */
        dns_result_clear(&entry->result);
        free(entry->name);
        free(entry);
    }
    event_free(waiter->budget_timer);
    event_free(waiter->done_event);
    free(waiter);
}

void dns_waiter_set_time_limit(struct dns_waiter *waiter, int time_limit_ms)
{
    waiter->time_limit_ms = time_limit_ms;
}

int dns_waiter_time_spent(const struct dns_waiter *waiter)
{
    long long spent = waiter->spent_ms;

    if (waiter->waiting)
        spent += dns_now_ms() - waiter->wait_start_ms;
    return spent > INT_MAX ? INT_MAX : (int)spent;
}

const struct rules_dns *dns_waiter_rules(struct dns_waiter *waiter)
{
    return &waiter->view;
}

int dns_waiter_busy(const struct dns_waiter *waiter)
{
    return waiter->pending > 0;
}

void dns_waiter_wait(struct dns_waiter *waiter, void (*done)(void *arg), void *arg)
{
    long long left;

    if (waiter->waiting)
        msg_panic("dns_waiter_wait: already waiting");
    waiter->done = done;
    waiter->done_arg = arg;
    waiter->waiting = 1;
    waiter->wait_start_ms = dns_now_ms();
    if (waiter->pending == 0) {
        dns_waiter_finish_wait(waiter);
        return;
    }
    left = waiter->time_limit_ms - waiter->spent_ms;
    if (left < 0)
        left = 0;
    struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
    evtimer_add(waiter->budget_timer, &tv);
}

/* ---- the resolver ---- */

static int dns_channel_init(struct dns *dns, const struct dns_config *config, char *err,
                            size_t errlen)
{
    struct ares_options options;
    char csv[1024];
    int status;

    if (dns_servers_parse(config->servers, csv, sizeof(csv), err, errlen) < 0)
        return -1;
    memset(&options, 0, sizeof(options));
    options.timeout = config->query_timeout_ms > 0 ? config->query_timeout_ms : 5000;
    options.tries = config->query_attempts > 0 ? config->query_attempts : 2;
    options.flags = ARES_FLAG_NOSEARCH;
    options.sock_state_cb = dns_sock_state;
    options.sock_state_cb_data = dns;
    status = ares_init_options(&dns->channel, &options,
                               ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
                                   ARES_OPT_SOCK_STATE_CB);
    if (status != ARES_SUCCESS) {
        snprintf(err, errlen, "DNS resolver initialisation: %s", ares_strerror(status));
        return -1;
    }
    dns->channel_ok = 1;
    if (csv[0] != '\0' &&
        (status = ares_set_servers_ports_csv(dns->channel, csv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "dns_servers: %s", ares_strerror(status));
        return -1;
    }
    return 0;
}

struct dns *dns_new(struct event_base *base, const struct dns_config *config, char *err,
                    size_t errlen)
{
    struct dns *dns = xcalloc(1, sizeof(*dns));
    size_t want = config->cache_size < (1u << 20) ? config->cache_size : (1u << 20);
    int status;

    if ((status = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
        snprintf(err, errlen, "DNS resolver initialisation: %s", ares_strerror(status));
        free(dns);
        return NULL;
    }
    dns->base = base;
    dns->time_limit_ms = config->message_time_limit > 0 ? config->message_time_limit * 1000 : 0;
    dns->cache_size = config->cache_size;
    dns->bucket_count = 16;
    while (dns->bucket_count < want)
        dns->bucket_count <<= 1;
    dns->buckets = xcalloc(dns->bucket_count, sizeof(*dns->buckets));
    dns->timer = evtimer_new(base, dns_timer_cb, dns);
    if (dns->timer == NULL)
        msg_fatal("dns: cannot make the resolver timer");
    if (dns_channel_init(dns, config, err, errlen) < 0) {
        dns_free(dns);
        return NULL;
    }
    return dns;
}

void dns_free(struct dns *dns)
{
    if (dns == NULL)
        return;
    if (dns->channel_ok) {
        /* Calls dns_query_done(ARES_EDESTRUCTION) for each query, and
         * dns_sock_state() to close each socket. */
        ares_destroy(dns->channel);
        dns->channel_ok = 0;
    }
    while (dns->queries != NULL) /* not sent at all */
        dns_query_free(dns->queries);
    while (dns->socks != NULL) {
        struct dns_sock *sock = dns->socks;
        dns->socks = sock->next;
        event_free(sock->ev);
        free(sock);
    }
    while (dns->lru_head != NULL)
        dns_cache_remove(dns, dns_cache_slot(dns, dns->lru_head->name, dns->lru_head->type));
    free(dns->buckets);
    event_free(dns->timer);
    free(dns);
    ares_library_cleanup();
}
