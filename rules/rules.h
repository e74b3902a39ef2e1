/*
 * rules.h - Postfix's smtpd restrictions, after the queue: what scand/
 * asks of rules/ for each recipient, at DATA and at the end of data.
 *
 * rules_load() compiles every restriction list, restriction class and table
 * the configuration names; nothing is parsed or opened per message.
 * rules_check() evaluates, for one stage, the lists Postfix would evaluate
 * there with smtpd_delay_reject (client, helo, sender, relay, recipient at
 * RCPT; smtpd_data_restrictions at DATA; smtpd_end_of_data_restrictions at
 * the end of data), with Postfix's actions and reply texts
 * (../shared/postfix-semantics.md sections 1 to 7).
 *
 * rules/ knows no sockets and no config files: parameters come through
 * struct rules_source, and every decision comes back as a verdict.
 */
#ifndef SCAND_RULES_RULES_H
#define SCAND_RULES_RULES_H

#include <stddef.h>

#include "rules/rules_dns.h"

/* Every parameter rules/ reads, with Postfix's default (NULL ends it), so
 * the daemon knows them, sets their defaults and warns about no others. */
struct rules_param {
    const char *name;
    const char *default_value;
};
extern const struct rules_param rules_params[];

/* Where parameters come from: get returns the expanded value (NULL when
 * unset and without default); where names the place for error messages,
 * "FILE, line N" (or "FILE" when set by default). */
struct rules_source {
    const char *(*get)(void *ctx, const char *name);
    void (*where)(void *ctx, const char *name, char *buf, size_t len);
    void *ctx;
};

struct rules;

/* Compile. On error NULL, and err holds "FILE, line N: what" for the
 * parameter at fault, or the table's own file:line for a bad table line.
 * Unknown restriction names, unknown table types, unreadable tables, bad
 * regexes, classes without definition, and restrictions scand does not
 * have (reject_unverified_*, permit_mx_backup, check_*_{mx,ns,a}_access:
 * the error says so) are errors. */
struct rules *rules_load(const struct rules_source *source, char *err, size_t errlen);
/* Added for the DNS restrictions: rules_load() with get_raw, which returns
 * a parameter as written, without $name expansion (NULL when unset). It is
 * asked for default_rbl_reply only, whose $rbl_code, $rbl_domain... are the
 * template's own names (Postfix does not expand it either). rules_load()
 * (get_raw NULL) uses Postfix's default template and ignores a configured
 * one. */
struct rules *rules_load_raw(const struct rules_source *source,
                             const char *(*get_raw)(void *ctx, const char *name), char *err,
                             size_t errlen);
void rules_free(struct rules *rules);
/* True when a table file changed on disk since rules_load(). */
int rules_changed(const struct rules *rules);
/* True when no restriction list is set (nothing to evaluate). */
int rules_empty(const struct rules *rules);

/* What the restrictions look at. The client is the original one (XFORWARD). */
struct rules_query {
    const char *client_name; /* "unknown" when not known */
    const char *client_addr; /* "192.0.2.7", "2001:db8::1" (no IPV6: prefix); "unknown" */
    const char *helo;        /* NULL when the client sent none */
    const char *protocol;    /* "ESMTP" / "SMTP" */
    const char *sender;      /* as sent, "" for the null sender; NULL before MAIL */
    const char *recipient;   /* as sent; set at RULES_STAGE_RCPT only */
    size_t rcpt_count;       /* recipients accepted so far */
    size_t message_size;     /* at RULES_STAGE_END_OF_DATA */
    const struct rules_dns *dns; /* the resolver (rules/rules_dns.h); NULL: every
                                  * lookup answers RULES_DNS_RETRY */
};

enum rules_stage {
    RULES_STAGE_RCPT,        /* client, helo, sender, relay, recipient lists */
    RULES_STAGE_DATA,        /* smtpd_data_restrictions */
    RULES_STAGE_END_OF_DATA, /* smtpd_end_of_data_restrictions */
};

/* Log lines Postfix writes besides the decision: "reject_warning" (from
 * warn_if_reject, text = the reply it would have sent), "warn", "info",
 * "hold", "discard", "filter", "redirect" (text = the action's text). */
struct rules_note {
    char *kind;
    char *text;
};

/* The decision for one check. A non-NULL reply is a rejection (4yz or 5yz
 * as Postfix builds it, e.g. "554 5.7.1 <a@qq.com>: Sender address
 * rejected: 521"); NULL means accepted. The other fields are side effects
 * on the whole message, as Postfix applies them (the last FILTER/REDIRECT
 * wins; PREPENDs in firing order). */
struct rules_verdict {
    char *reply;
    int disconnect;   /* 421/521: Postfix would close the session after it */
    char *discard;    /* DISCARD fired: its text ("" when none) */
    char *hold;       /* HOLD fired: its text ("" when none) */
    char *filter;     /* FILTER transport:nexthop */
    char *redirect;   /* REDIRECT address */
    char **bcc;       /* BCC addresses */
    size_t bcc_count;
    char **prepend;   /* PREPEND header lines, "Name: value" */
    size_t prepend_count;
    struct rules_note *notes;
    size_t note_count;
    int dns_pending; /* no decision yet: wait for the resolver, check again
                      * (rules/rules_dns.h); everything else is empty */
};

/* For --explain: one line per step (restriction evaluated, table, key
 * tried, entry matched, resulting action); depth is the nesting level. */
struct rules_explain {
    void (*line)(void *ctx, int depth, const char *text);
    void *ctx;
};

/* Per-transaction memory Postfix keeps between recipients (a DISCARD
 * skips all further restrictions for the transaction; DEFER_IF_PERMIT
 * state). Zero it at MAIL (rules_tx_init); it lives until the end of
 * the transaction. */
struct rules_tx {
    int discarded;
    int held; /* added by R2: a HOLD already fired (Postfix logs only the first) */
};
void rules_tx_init(struct rules_tx *tx);

/* True when a restriction the rules may reach needs DNS (a worker then
 * sets up a resolver). */
int rules_need_dns(const struct rules *rules);

/* Evaluate one stage. explain may be NULL. Never fails: a table lookup
 * error becomes "451 4.3.0 ... Temporary lookup failure", a broken
 * configuration "451 4.3.5 Server configuration error", as Postfix does. */
void rules_check(struct rules *rules, enum rules_stage stage, const struct rules_query *query,
                 struct rules_tx *tx, struct rules_verdict *verdict,
                 const struct rules_explain *explain);
void rules_verdict_free(struct rules_verdict *verdict);

#endif
