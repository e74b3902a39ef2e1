/*
 * rules_dns.h - how rules/ asks for DNS answers without doing I/O.
 *
 * A DNS-based restriction (reject_rbl_client, reject_unknown_sender_domain,
 * ...) asks the caller's resolver through struct rules_dns. The resolver
 * answers from what it already holds (its cache, or what it already
 * answered during this message), or starts the query and answers
 * RULES_DNS_PENDING.
 *
 * Evaluation in passes: a restriction whose answer is pending does not
 * decide (it is DUNNO for this pass) and every later restriction is still
 * evaluated, so that all the lookups the stage may need are started in the
 * same pass and run in parallel. rules_check() then sets
 * verdict->dns_pending and returns no decision: no reply, no side effects,
 * no notes, and struct rules_tx as it was. The caller waits until its
 * resolver has the answers and calls rules_check() again with the same
 * arguments; a later pass may turn up further lookups (a restriction that
 * only runs once an earlier one has its answer). The resolver bounds the
 * time: a lookup it gave up on answers RULES_DNS_RETRY, never PENDING
 * again, so the passes end.
 *
 * Within one message, the resolver answers a name and type the same way
 * every time it is asked (it keeps what it answered), so that the final
 * pass sees what the earlier passes saw.
 */
#ifndef SCAND_RULES_RULES_DNS_H
#define SCAND_RULES_RULES_DNS_H

#include <stddef.h>

enum rules_dns_type {
    RULES_DNS_A,
    RULES_DNS_AAAA,
    RULES_DNS_MX,
    RULES_DNS_TXT,
    RULES_DNS_PTR,
};

enum rules_dns_status {
    RULES_DNS_OK,       /* records of that type exist (count >= 1) */
    RULES_DNS_NOTFOUND, /* NXDOMAIN: the name does not exist */
    RULES_DNS_NODATA,   /* the name exists, no record of that type */
    RULES_DNS_RETRY,    /* timeout, SERVFAIL, REFUSED, network trouble, budget spent */
    RULES_DNS_PENDING,  /* asked; the answer is not there yet */
};

struct rules_dns_record {
    const char *text; /* A/AAAA: the address ("127.0.0.2", "2001:db8::1");
                       * MX, PTR: the host name, lower case, no trailing dot
                       * ("" for the null MX "."); TXT: the record's
                       * character-strings concatenated */
    unsigned pref;    /* MX preference; 0 for other types */
};

struct rules_dns_answer {
    enum rules_dns_status status;
    const struct rules_dns_record *records; /* status RULES_DNS_OK only */
    size_t count;
    unsigned ttl;    /* seconds the answer stays valid (0 for RETRY/PENDING) */
    int from_cache;  /* answered from the worker's cache, not a query for this message */
    const char *why; /* RETRY/NOTFOUND/NODATA: for logs, e.g. "Host not found, try again" */
};

struct rules_dns {
    /* Answer (or start) one lookup. name is fully qualified, without the
     * trailing dot. *answer stays valid until rules_check() returns.
     * (Added:) a PTR lookup names the reverse zone entry itself,
     * "7.2.0.192.in-addr.arpa" or the 32 nibbles under "ip6.arpa", so the
     * resolver needs no address parsing. */
    void (*lookup)(void *ctx, const char *name, enum rules_dns_type type,
                   struct rules_dns_answer *answer);
    void *ctx;
};

/* "A", "AAAA", "MX", "TXT", "PTR": for explain lines and logs. */
const char *rules_dns_type_name(enum rules_dns_type type);

#endif
