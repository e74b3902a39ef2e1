/*
 * dns_reply.h - a DNS answer as scand keeps it (struct dns_result), and the
 * parser that turns c-ares' status and the reply's bytes into one. No I/O:
 * the bytes come from the network, so this is a fuzz target of its own
 * (tests/fuzz/fuzz_dns_reply.c); dns.c does the sending and caching.
 *
 * What dns_reply_parse() promises, whatever the bytes:
 *  - status is OK, NOTFOUND, NODATA or RETRY (never PENDING);
 *  - OK exactly when count >= 1; every record's text is non-NULL and
 *    NUL-terminated; records is NULL when count is 0;
 *  - why is NULL for OK and one of the dns_why_* texts otherwise;
 *  - ttl is at most DNS_REPLY_TTL_MAX, and 0 for RETRY (never cached).
 * The policy (which reply means what, which TTL) is stated in dns_reply.c.
 */
#ifndef SCAND_DNS_REPLY_H
#define SCAND_DNS_REPLY_H

#include <stddef.h>

#include "rules/rules_dns.h"

#define DNS_REPLY_TTL_MAX 86400      /* cap on any answer's lifetime (one day) */
#define DNS_REPLY_NEG_TTL_DEFAULT 60 /* negative answer without a SOA */

/* The why texts, Postfix's wording where Postfix has one. */
extern const char dns_why_notfound[];  /* "Host not found" */
extern const char dns_why_nodata[];    /* "Host found but no data record of requested type" */
extern const char dns_why_retry[];     /* "Host not found, try again" */
extern const char dns_why_malformed[]; /* "Malformed or unexpected name server reply" */
extern const char dns_why_invalid[];   /* "invalid host or domain name" */

/* An answer as stored, in the cache or a waiter: it owns its texts. */
struct dns_result {
    enum rules_dns_status status;
    struct rules_dns_record *records;
    size_t count;
    unsigned ttl;
    const char *why; /* a static text (dns_why_* or the caller's), NULL for OK */
};

/* An empty answer of that status (no records, ttl 0); result owns nothing
 * before (its old contents are not freed). */
void dns_result_set(struct dns_result *result, enum rules_dns_status status, const char *why);
/* Free the records; result becomes all zero. */
void dns_result_clear(struct dns_result *result);
/* A deep copy: to owns its own texts. */
void dns_result_copy(struct dns_result *to, const struct dns_result *from);

/* The query type (ns_t_a, ...) of a record type. */
int dns_reply_qtype(enum rules_dns_type type);

/* c-ares' status (ARES_SUCCESS, ARES_ENOTFOUND, ...) and the reply
 * (abuf/alen, may be NULL/0) of a query of that type, to *result, which
 * owns nothing before and must be dns_result_clear()ed after. */
void dns_reply_parse(int ares_status, const unsigned char *abuf, int alen, enum rules_dns_type type,
                     struct dns_result *result);

#endif
