/*
 * access.h - the access(5) lookup order: which keys are tried, in which
 * order, in one access table, for an address, a host name or a client.
 * See ../shared/postfix-semantics.md section 2 (every [checked] point).
 */
#ifndef SCAND_RULES_ACCESS_H
#define SCAND_RULES_ACCESS_H

#include "rules/table.h"

struct access_options {
    const char *recipient_delimiter; /* "" or NULL: none; may hold several characters */
    int parent_domain_matches_subdomains; /* smtpd_access_maps listed there (default yes) */
    const char *null_access_lookup_key;   /* smtpd_null_access_lookup_key, default "<>" */
    /* Added by R2: $myorigin, appended to an address without @domain before
     * the lookup, as Postfix's resolver qualifies it; NULL or "": none. */
    const char *myorigin;
};

/* Told about every key tried, for --explain. result is NULL when the key
 * was not found. */
typedef void (*access_trace_fn)(void *ctx, const char *key, const struct table_result *result);

/* check_sender_access / check_recipient_access: the address as sent (case
 * kept; the lookup folds it as Postfix's resolver does). "" is the null
 * sender. Returns as table_lookup(). */
int access_lookup_address(struct table *table, const char *address,
                          const struct access_options *options, struct table_result *result,
                          access_trace_fn trace, void *ctx);
/* check_helo_access, and the name part of check_client_access. */
int access_lookup_hostname(struct table *table, const char *name,
                           const struct access_options *options, struct table_result *result,
                           access_trace_fn trace, void *ctx);
/* check_client_access: the name, then the address with octets stripped. */
int access_lookup_client(struct table *table, const char *name, const char *addr,
                         const struct access_options *options, struct table_result *result,
                         access_trace_fn trace, void *ctx);

#endif
