/*
 * dns.h - a worker's asynchronous DNS resolver and cache, on its libevent
 * loop (c-ares does the protocol; see dns.c for why not evdns).
 *
 * One struct dns per worker (and one in test mode): queries go to the
 * servers of dns_servers, or to the system's (/etc/resolv.conf) when it is
 * empty. Answers are cached, shared by the worker's sessions: positive
 * answers for the smallest TTL of their records, NXDOMAIN and NODATA for
 * the negative TTL of the zone's SOA (RFC 2308), capped; RETRY (timeout,
 * SERVFAIL, REFUSED) is never cached. Identical queries in flight are sent
 * once.
 *
 * A session asks through a struct dns_waiter, one per restriction check
 * (a recipient, DATA, the end of data): it is the struct rules_dns the
 * restrictions see (rules/rules_dns.h). The waiter remembers every answer
 * it gave, so the same name and type answer the same way in every pass of
 * the check, and it holds the DNS budget: once the waiter has spent its
 * time limit waiting (message_time_limit, or what the transaction has
 * left of it), whatever has not been answered answers RULES_DNS_RETRY
 * ("DNS time budget spent").
 */
#ifndef SCAND_DNS_H
#define SCAND_DNS_H

#include <stddef.h>

#include <event2/event.h>

#include "rules/rules_dns.h"

struct dns_config {
    const char *servers;       /* "127.0.0.1:5353, [::1]:5353"; "" or NULL: the system's */
    int query_timeout_ms;      /* one attempt at one server */
    int query_attempts;        /* tries per server */
    size_t cache_size;         /* answers kept at most (least recently used go first) */
    int message_time_limit;    /* seconds a waiter may spend waiting, in all */
};

struct dns;
struct dns_waiter;

/* Check a dns_servers value without starting anything (for config load):
 * 0, or -1 with err saying what is wrong. */
int dns_servers_valid(const char *servers, char *err, size_t errlen);

/* NULL with err on failure (bad servers, c-ares initialisation). */
struct dns *dns_new(struct event_base *base, const struct dns_config *config, char *err,
                    size_t errlen);
/* Cancels everything in flight; waiters must be freed before. */
void dns_free(struct dns *dns);

struct dns_waiter *dns_waiter_new(struct dns *dns);
/* Cancels the pending wait (its callback is never called). */
void dns_waiter_free(struct dns_waiter *waiter);

/* Budget of a waiter, for a transaction that has already spent part of
 * its message_time_limit in an earlier check (the session makes one waiter
 * per check, so that answers are stable within the check and a later
 * recipient sees the cache): set before the first lookup. */
void dns_waiter_set_time_limit(struct dns_waiter *waiter, int time_limit_ms);
/* Milliseconds the waiter has spent waiting so far. */
int dns_waiter_time_spent(const struct dns_waiter *waiter);

/* The view rules_check() uses (struct rules_query.dns). */
const struct rules_dns *dns_waiter_rules(struct dns_waiter *waiter);

/* True while a lookup started through the waiter has no answer yet. */
int dns_waiter_busy(const struct dns_waiter *waiter);

/* Call done(arg) once every lookup the waiter started has its answer, or
 * its budget is spent. Always from the event loop, never from inside this
 * call (also when nothing is outstanding). One wait at a time. */
void dns_waiter_wait(struct dns_waiter *waiter, void (*done)(void *arg), void *arg);

#endif
