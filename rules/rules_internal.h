/*
 * rules_internal.h - what rules.c (loading), restrict_eval.c (evaluation),
 * reply.c (reply texts) and mynetworks.c (address and domain lists) share.
 * Never included from outside rules/.
 */
#ifndef SCAND_RULES_RULES_INTERNAL_H
#define SCAND_RULES_RULES_INTERNAL_H

#include <stddef.h>

#include "rules/access.h"
#include "rules/rules.h"
#include "rules/table.h"

/* Every restriction scand knows, with Postfix's names (rules.c maps names
 * to these). */
enum rules_op {
    RULES_OP_PERMIT,
    RULES_OP_REJECT,
    RULES_OP_DEFER,
    RULES_OP_DEFER_IF_PERMIT,
    RULES_OP_DEFER_IF_REJECT,
    RULES_OP_WARN_IF_REJECT,
    RULES_OP_CHECK_CLIENT,
    RULES_OP_CHECK_HELO,
    RULES_OP_CHECK_SENDER,
    RULES_OP_CHECK_RECIPIENT,
    RULES_OP_BARE_TABLE, /* type:table alone: the caller's check_xxx_access */
    RULES_OP_PERMIT_MYNETWORKS,
    RULES_OP_PERMIT_AUTH_DEST,
    RULES_OP_REJECT_UNAUTH_DEST,
    RULES_OP_DEFER_UNAUTH_DEST,
    RULES_OP_REJECT_NON_FQDN_HELO,
    RULES_OP_REJECT_INVALID_HELO,
    RULES_OP_REJECT_NON_FQDN_SENDER,
    RULES_OP_REJECT_NON_FQDN_RCPT,
    RULES_OP_REJECT_MULTI_RCPT_BOUNCE,
    /* DNS-based (restrict_dns.c); item->arg holds the domain argument. */
    RULES_OP_RBL_CLIENT,           /* reject_rbl_client, reject_rbl */
    RULES_OP_DNSWL_CLIENT,         /* permit_dnswl_client */
    RULES_OP_RHSBL_CLIENT,         /* reject_rhsbl_client */
    RULES_OP_RHSWL_CLIENT,         /* permit_rhswl_client */
    RULES_OP_RHSBL_REVERSE_CLIENT, /* reject_rhsbl_reverse_client */
    RULES_OP_RHSBL_HELO,           /* reject_rhsbl_helo */
    RULES_OP_RHSBL_SENDER,         /* reject_rhsbl_sender */
    RULES_OP_RHSBL_RECIPIENT,      /* reject_rhsbl_recipient */
    RULES_OP_MAPS_RBL,             /* reject_maps_rbl: every $maps_rbl_domains */
    RULES_OP_UNKNOWN_CLIENT,       /* reject_unknown_client_hostname */
    RULES_OP_UNKNOWN_REVERSE,      /* reject_unknown_reverse_client_hostname */
    RULES_OP_UNKNOWN_HELO,         /* reject_unknown_helo_hostname */
    RULES_OP_UNKNOWN_SENDER,       /* reject_unknown_sender_domain, reject_unknown_address */
    RULES_OP_UNKNOWN_RCPT,         /* reject_unknown_recipient_domain */
    RULES_OP_NOOP,                 /* before-queue only: accepted with a warning, always DUNNO */
    RULES_OP_CLASS,                /* a smtpd_restriction_classes name */
    RULES_OP_INVALID,              /* in a table result only: 451 4.3.5 when reached */
};

struct rules_class;

struct rules_item {
    enum rules_op op;
    char *name;                /* as written, for --explain; RULES_OP_INVALID: why */
    struct table *table;       /* check_xxx_access and bare tables */
    struct rules_class *klass; /* RULES_OP_CLASS */
    char *arg;                 /* DNS lists: "domain" or "domain=d.d.d.d" as written */
};

struct rules_list {
    char *param; /* the parameter (or class) that defined it */
    struct rules_item *items;
    size_t count;
};

struct rules_class {
    char *name;
    struct rules_list list;
};

/* A Postfix match list (mynetworks, relay_domains, mydestination): host
 * names or domains, networks, type:table entries, !negation, /file. */
struct rules_match;
struct rules_match_list {
    char *param;
    struct rules_match *items;
    size_t count;
    int parent_style; /* the parameter is in parent_domain_matches_subdomains */
};

struct rules_table_slot {
    char *spec;
    struct table *table;
};

struct rules {
    struct rules_list client, helo, sender, relay, recipient, data, eod;
    struct rules_class *classes;
    size_t class_count;
    struct rules_match_list mynetworks, relay_domains, mydestination;
    struct rules_table_slot *tables; /* every table opened, each once */
    size_t table_count;
    struct access_options access;
    char *recipient_delimiter;
    char *null_access_lookup_key;
    char *myorigin;
    char *verify_sender; /* address_verify_sender, qualified, lower case */
    int access_map_reject_code;
    int access_map_defer_code;
    int reject_code;
    int defer_code;
    int relay_code;
    int non_fqdn_code;
    int bad_name_code;
    int multi_rcpt_code;
    int soft_bounce;
    int relay_before_recipient;
    int allow_percent_hack;
    /* DNS-based restrictions (restrict_dns.c) */
    struct table **rbl_reply_maps; /* rbl_reply_maps, in order */
    size_t rbl_reply_map_count;
    char *default_rbl_reply; /* the template, as written (no $name expansion) */
    char **maps_rbl_domains; /* reject_maps_rbl */
    size_t maps_rbl_domain_count;
    int maps_rbl_code;
    int unknown_address_code;
    int unknown_hostname_code;
    int unknown_client_code;
    int unknown_address_tempfail; /* RULES_TEMPFAIL_* */
    int unknown_helo_tempfail;
};

/* Postfix's tempfail actions (unknown_*_tempfail_action). */
#define RULES_TEMPFAIL_DEFER 0
#define RULES_TEMPFAIL_DEFER_IF_PERMIT 1

/* rules.c: name lookups shared with the evaluation of table results. */
struct rules_class *rules_find_class(const struct rules *rules, const char *name);
/* Built-in restriction names (case-insensitive). Returns 1 and *op when
 * known; *needs_table when it takes a type:table argument. Names Postfix
 * has but scand does not return -1 with *why set; unknown names 0. */
int rules_builtin(const char *name, enum rules_op *op, int *needs_table, const char **why);
/* True for the restrictions that take a DNS domain argument
 * (reject_rbl_client domain[=d.d.d.d], ...). */
int rules_op_needs_domain(enum rules_op op);
/* True for every DNS-based restriction. */
int rules_op_is_dns(enum rules_op op);
/* A restriction list found in a table result, parsed when it fires:
 * unknown or unsupported names become RULES_OP_INVALID items, so that, as
 * in Postfix, they fail only when reached. */
void rules_parse_runtime(const struct rules *rules, const char *value, struct rules_list *list);
void rules_list_free(struct rules_list *list);
/* Split a restriction list into words (commas and white space). */
char **rules_split(const char *value, size_t *count);
void rules_split_free(char **words, size_t count);

/* reply.c: Postfix's reply text helpers. */
/* dsn_split(): when text starts with a D.S.N enhanced code, copy it to dsn
 * (at most 15 chars) and return the text after it and its blanks;
 * otherwise copy def and return text. */
const char *rules_dsn_split(const char *text, const char *def, char *dsn, size_t dsnlen);
/* smtpd_dsn_fix(): X.1.Y detail codes made to fit what is rejected. */
void rules_dsn_fix(char *dsn, const char *reply_class);
/* A reply code 400-599 and a valid D.S.N. */
int rules_dsn_valid(const char *dsn);
/* Make text printable as Postfix's printable(): non-printing bytes become
 * blanks. */
void rules_printable(char *text);

/* mynetworks.c: Postfix's match lists and the address classes of
 * permit_auth_destination. Return 1 match, 0 no match, -1 lookup error. */
int rules_match_list_load(struct rules *rules, struct rules_match_list *list, const char *param,
                          const char *value, const char *where, int parent_style, char *err,
                          size_t errlen);
void rules_match_list_free(struct rules_match_list *list);
int rules_match_namaddr(const struct rules_match_list *list, const char *name, const char *addr);
int rules_match_domain(const struct rules_match_list *list, const char *domain);
/* permit_auth_destination(): 1 when the recipient's domain is ours
 * (mydestination) or a relay domain, 0 otherwise, -1 on a lookup error. */
int rules_auth_destination(const struct rules *rules, const char *recipient);
/* valid_hostname(), valid_ipv4_hostaddr(), valid_hostaddr(),
 * valid_mailhost_addr() of Postfix's util library. */
int rules_valid_hostname(const char *name);
int rules_valid_ipv4(const char *addr);
int rules_valid_hostaddr(const char *addr);
int rules_valid_mailhost_addr(const char *addr);

/* restrict_dns.c: the DNS-based restrictions decide; restrict_eval.c applies
 * the outcome (eval_reject(), DEFER_IF_PERMIT, DEFER_IF_REJECT), so that
 * warn_if_reject, soft_bounce and the deferral flags work as for the others. */
enum rules_dns_action {
    RULES_DNS_ACT_DUNNO,
    RULES_DNS_ACT_OK,
    RULES_DNS_ACT_PENDING,         /* a lookup is not answered yet: DUNNO this pass */
    RULES_DNS_ACT_REJECT,          /* smtpd_check_reject(code, dsn, text) */
    RULES_DNS_ACT_TEMPFAIL,        /* DEFER_IF_PERMIT2(tempfail, ...) */
    RULES_DNS_ACT_DEFER_IF_REJECT, /* DEFER_IF_REJECT3(...) */
    RULES_DNS_ACT_LOOKUP_FAILURE,  /* a table lookup failed: 451 4.3.0 <text>: Temporary ... */
};

struct rules_dns_outcome {
    enum rules_dns_action action;
    int code;
    char dsn[16];
    char *text;   /* the reply after "code dsn " (REJECT, TEMPFAIL, DEFER_IF_REJECT) */
    int tempfail; /* RULES_TEMPFAIL_* for RULES_DNS_ACT_TEMPFAIL */
    int software; /* REJECT: a configuration error (warn_if_reject does not soften it) */
};

/* What a DNS restriction sees; explain and warn may be NULL. */
struct rules_dns_env {
    const struct rules *rules;
    const struct rules_query *query;
    const char *recipient; /* NULL when there is none (DATA with several) */
    int at_rcpt;           /* RULES_STAGE_RCPT: permit_dnswl_* safety check */
    void (*explain)(void *ctx, const char *text);
    void (*warn)(void *ctx, const char *text); /* a "warning" note (Postfix's msg_warn) */
    void *ctx;
};

/* Evaluate one DNS-based item. The object and class of each restriction
 * are fixed, as in Postfix (reject_rhsbl_sender always rejects the
 * "Sender address", whichever list it sits in). out->text is allocated;
 * free it with rules_dns_outcome_free(). */
void rules_dns_eval(const struct rules_dns_env *env, const struct rules_item *item,
                    struct rules_dns_outcome *out);
void rules_dns_outcome_free(struct rules_dns_outcome *out);
/* "domain=127.0.0.[2..11]": 0, or -1 with err when the filter after '='
 * is malformed (ip_match_parse()). */
int rules_dns_check_arg(const char *arg, char *err, size_t errlen);

/* rbl_reply.c: mac_expand() for RBL reply templates. lookup returns the
 * value of a name, NULL when the name is unknown. Values are filtered as
 * with smtpd_expansion_filter's default (bytes outside printable ASCII,
 * space and tab become '_'). Returns 0 and *out (allocated), or -1 with
 * why (a syntax error, or an unknown $name expanded unconditionally). */
int rules_rbl_expand(const char *template, const char *(*lookup)(void *ctx, const char *name),
                     void *ctx, char **out, char *why, size_t whylen);

/* rules.c: a table, opened once however often the configuration names it. */
struct table *rules_open_table(struct rules *rules, const char *spec, char *err, size_t errlen);

#endif
