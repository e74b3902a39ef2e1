/*
 * policy.h - one transaction's restriction decisions.
 *
 * Runs rules_check() at each stage, logs each decision in Postfix's shape
 * ("QUEUEID: reject: RCPT from NAME[ADDR]: REPLY; from=<S> to=<R>
 * proto=P helo=<H>"), and gathers the side effects that apply to the whole
 * message (DISCARD, HOLD, FILTER, REDIRECT, BCC, PREPEND) until its end.
 * The session (live mail) and test mode (-t) both use it, so what test mode
 * shows is what the daemon does.
 */
#ifndef SCAND_POLICY_H
#define SCAND_POLICY_H

#include <stddef.h>

#include "rules/content.h"
#include "rules/mime_rules.h"
#include "rules/rules.h"

struct policy_tx {
    struct rules_tx rules_tx;
    const char *queue_id; /* for logs: upstream queue id or "NOQUEUE"; kept, not copied */
    char *discard;        /* DISCARD fired: its text */
    char *hold;           /* HOLD fired: its text */
    char *filter;         /* last FILTER transport:nexthop */
    char *redirect;       /* last REDIRECT address */
    char **bcc;
    size_t bcc_count;
    char **prepend;
    size_t prepend_count;
};

void policy_tx_init(struct policy_tx *tx, const char *queue_id);
void policy_tx_free(struct policy_tx *tx);

/* Evaluate one stage. Returns NULL when accepted, else the reply to give
 * (a fresh string; *disconnect set for 421/521). Side effects are merged
 * into tx; notes and rejections are logged. explain may be NULL.
 * *dns_pending set: no decision yet (nothing logged, nothing merged): wait
 * until query->dns has its answers and call again (rules/rules_dns.h). */
char *policy_check(struct rules *rules, enum rules_stage stage, const struct rules_query *query,
                   struct policy_tx *tx, const struct rules_explain *explain, int *disconnect,
                   int *dns_pending);

/* Run the content checks (rules/content.h), then the MIME rules
 * (rules/mime_rules.h), over the whole message at the end of data; the
 * first rejection ends it. Returns NULL when accepted, else the end-of-data reply (a
 * fresh string). Side effects are merged into tx, notes logged. When an
 * action edited the message, *rewritten gets the new content (malloc'd,
 * *rewritten_len bytes), else NULL. */
char *policy_content(struct content_rules *content, struct mime_rules *mime, const char *data,
                     size_t len, const struct rules_query *query, struct policy_tx *tx,
                     const struct rules_explain *explain, char **rewritten, size_t *rewritten_len);

/* The client address as the rules see it and Postfix prints it: an
 * "IPv6:" prefix dropped and IPv6 compressed (2001:db8:2::9), since the
 * octet-stripping lookups depend on the spelling. Returns addr itself or
 * buf (INET6_ADDRSTRLEN bytes at least). */
const char *policy_client_addr(const char *addr, char *buf, size_t len);

/* Log one line in Postfix's NOQUEUE shape for a stage ("RCPT", "DATA",
 * "END-OF-MESSAGE", "MAIL"): "ID: KIND: STAGE from NAME[ADDR]: TEXT;
 * from=<S> to=<R> proto=P helo=<H>". */
void policy_log(const char *queue_id, const char *kind, const char *stage_name,
                const struct rules_query *query, const char *text);

#endif
