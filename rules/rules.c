/*
 * rules.c - loading Postfix's smtpd restrictions (see rules.h); the
 * evaluation is in restrict_eval.c.
 *
 * Policy, decided here for everything that follows:
 *
 *  - Defaults are Postfix 3.7's, with three deliberate exceptions, because
 *    scand runs AFTER the queue, behind Postfix's own smtpd:
 *      smtpd_relay_restrictions = (empty). Postfix's default
 *        "permit_mynetworks, permit_sasl_authenticated,
 *        defer_unauth_destination" would defer every message that Postfix
 *        already accepted for relaying (the original client is not in our
 *        mynetworks and we know nothing of its SASL login). Postfix itself
 *        already enforced its relay policy before the queue.
 *      mynetworks = 127.0.0.0/8 [::1]/128. Postfix 3.x's compatible
 *        default is mynetworks_style = host, i.e. only this host's own
 *        addresses; after the queue "our networks" can only mean the host
 *        itself, and scand does not enumerate interfaces.
 *      mydestination = $myhostname, localhost (Postfix adds
 *        localhost.$mydomain; scand has no $mydomain).
 *    smtpd_relay_before_recipient_restrictions is yes, as with Postfix's
 *    compatibility_level 3.6 and later.
 *  - smtpd_delay_reject = no is accepted, with a warning, and behaves as
 *    yes: after the queue every decision is per recipient anyway.
 *  - Every list, class and table is parsed and opened here, once. An
 *    unknown restriction, a missing table argument, a class declared
 *    without definition, a broken table, and restrictions scand does not
 *    have are errors naming "FILE, line N". The DNS-based restrictions
 *    (restrict_dns.c) take their domain argument from the next word, as
 *    Postfix; a missing one is an error here (Postfix only warns and
 *    skips the restriction), and so is a malformed "=d.d.d.d" filter
 *    (Postfix's smtpd dies on it when first used). In a table result the
 *    same mistakes fail when reached (451 4.3.5). reject_unverified_*,
 *    permit_mx_backup and check_*_{mx,ns,a}_access are not supported.
 *  - Restrictions that only make sense before the queue, where Postfix
 *    itself already applied them, are accepted with a warning at load and
 *    never decide (DUNNO), which is what Postfix does when the feature is
 *    off: permit_sasl_authenticated, check_sasl_access, the
 *    *_sender_login_mismatch family (no SASL login after the queue),
 *    permit_tls_clientcerts, permit_tls_all_clientcerts, check_ccert_access
 *    (no client certificate), reject_unauth_pipelining (Postfix's smtp
 *    client pipelines correctly). reject_plaintext_session and
 *    permit_inet_interfaces are errors: after the queue they would reject
 *    everything or match nothing meaningful.
 *  - Restriction class names are case-sensitive, built-in names are not
 *    (Postfix's strcasecmp() versus its hash table).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

#define POSTFIX_PARENT_DOMAIN_MATCHES_SUBDOMAINS                                                   \
    "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"                     \
    "qmqpd_authorized_clients,relay_domains,smtpd_access_maps"

/* Postfix's default_rbl_reply. Its $names are the template's own, not
 * parameters: it is read raw (rules_load_raw()). */
#define RULES_DEFAULT_RBL_REPLY                                                                    \
    "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using "                         \
    "$rbl_domain${rbl_reason?; $rbl_reason}"

const struct rules_param rules_params[] = {
    {"smtpd_restriction_classes", ""},
    {"smtpd_client_restrictions", ""},
    {"smtpd_helo_restrictions", ""},
    {"smtpd_sender_restrictions", ""},
    {"smtpd_relay_restrictions", ""}, /* scand: empty, see the top comment */
    {"smtpd_recipient_restrictions", ""},
    {"smtpd_data_restrictions", ""},
    {"smtpd_end_of_data_restrictions", ""},
    {"smtpd_delay_reject", "yes"},
    {"smtpd_relay_before_recipient_restrictions", "yes"},
    {"access_map_reject_code", "554"},
    {"access_map_defer_code", "450"},
    {"reject_code", "554"},
    {"defer_code", "450"},
    {"relay_domains_reject_code", "554"},
    {"non_fqdn_reject_code", "504"},
    {"invalid_hostname_reject_code", "501"},
    {"multi_recipient_bounce_reject_code", "550"},
    {"recipient_delimiter", ""},
    {"parent_domain_matches_subdomains", POSTFIX_PARENT_DOMAIN_MATCHES_SUBDOMAINS},
    {"smtpd_null_access_lookup_key", "<>"},
    {"mynetworks", "127.0.0.0/8 [::1]/128"}, /* scand: host style, see above */
    {"relay_domains", ""},
    {"mydestination", "$myhostname, localhost"},
    {"myorigin", "$myhostname"},
    {"allow_percent_hack", "yes"},
    {"soft_bounce", "no"},
    {"double_bounce_sender", "double-bounce"},
    {"address_verify_sender", "$double_bounce_sender"},
    /* DNS-based restrictions (restrict_dns.c) */
    {"rbl_reply_maps", ""},
    {"default_rbl_reply", RULES_DEFAULT_RBL_REPLY},
    {"maps_rbl_domains", ""},
    {"maps_rbl_reject_code", "554"},
    {"unknown_address_reject_code", "450"},
    {"unknown_hostname_reject_code", "450"},
    {"unknown_client_reject_code", "450"},
    {"reject_tempfail_action", "defer_if_permit"},
    {"unknown_address_tempfail_action", "$reject_tempfail_action"},
    {"unknown_helo_hostname_tempfail_action", "$reject_tempfail_action"},
    {NULL, NULL},
};

/* Restrictions by name. */
struct rules_builtin_entry {
    const char *name;
    enum rules_op op;
    int needs_table;
    const char *unsupported; /* non-NULL: an error saying why */
};

#define DNS_WHY "is not supported yet (it needs address verification or MX/NS lookups)"
#define NOT_YET "is not supported yet"
#define BEFORE_QUEUE "only makes sense before the queue; Postfix's own smtpd applies it"

static const struct rules_builtin_entry rules_builtins[] = {
    {"permit", RULES_OP_PERMIT, 0, NULL},
    {"reject", RULES_OP_REJECT, 0, NULL},
    {"defer", RULES_OP_DEFER, 0, NULL},
    {"defer_if_permit", RULES_OP_DEFER_IF_PERMIT, 0, NULL},
    {"defer_if_reject", RULES_OP_DEFER_IF_REJECT, 0, NULL},
    {"warn_if_reject", RULES_OP_WARN_IF_REJECT, 0, NULL},
    {"check_client_access", RULES_OP_CHECK_CLIENT, 1, NULL},
    {"check_helo_access", RULES_OP_CHECK_HELO, 1, NULL},
    {"check_sender_access", RULES_OP_CHECK_SENDER, 1, NULL},
    {"check_recipient_access", RULES_OP_CHECK_RECIPIENT, 1, NULL},
    {"permit_mynetworks", RULES_OP_PERMIT_MYNETWORKS, 0, NULL},
    {"permit_auth_destination", RULES_OP_PERMIT_AUTH_DEST, 0, NULL},
    {"reject_unauth_destination", RULES_OP_REJECT_UNAUTH_DEST, 0, NULL},
    {"defer_unauth_destination", RULES_OP_DEFER_UNAUTH_DEST, 0, NULL},
    {"reject_non_fqdn_helo_hostname", RULES_OP_REJECT_NON_FQDN_HELO, 0, NULL},
    {"reject_non_fqdn_hostname", RULES_OP_REJECT_NON_FQDN_HELO, 0, NULL},
    {"reject_invalid_helo_hostname", RULES_OP_REJECT_INVALID_HELO, 0, NULL},
    {"reject_invalid_hostname", RULES_OP_REJECT_INVALID_HELO, 0, NULL},
    {"reject_non_fqdn_sender", RULES_OP_REJECT_NON_FQDN_SENDER, 0, NULL},
    {"reject_non_fqdn_recipient", RULES_OP_REJECT_NON_FQDN_RCPT, 0, NULL},
    {"reject_multi_recipient_bounce", RULES_OP_REJECT_MULTI_RCPT_BOUNCE, 0, NULL},
    /* Before the queue only: accepted, never decide (see top comment). */
    {"permit_sasl_authenticated", RULES_OP_NOOP, 0, NULL},
    {"reject_sender_login_mismatch", RULES_OP_NOOP, 0, NULL},
    {"reject_authenticated_sender_login_mismatch", RULES_OP_NOOP, 0, NULL},
    {"reject_known_sender_login_mismatch", RULES_OP_NOOP, 0, NULL},
    {"reject_unauthenticated_sender_login_mismatch", RULES_OP_NOOP, 0, NULL},
    {"permit_tls_clientcerts", RULES_OP_NOOP, 0, NULL},
    {"permit_tls_all_clientcerts", RULES_OP_NOOP, 0, NULL},
    {"reject_unauth_pipelining", RULES_OP_NOOP, 0, NULL},
    {"check_ccert_access", RULES_OP_NOOP, 1, NULL},
    {"check_sasl_access", RULES_OP_NOOP, 1, NULL},
    {"reject_plaintext_session", RULES_OP_INVALID, 0, BEFORE_QUEUE},
    {"permit_inet_interfaces", RULES_OP_INVALID, 0, BEFORE_QUEUE},
    /* DNS-based (restrict_dns.c); the domain argument is the next word. */
    {"reject_rbl_client", RULES_OP_RBL_CLIENT, 0, NULL},
    {"reject_rbl", RULES_OP_RBL_CLIENT, 0, NULL},
    {"reject_maps_rbl", RULES_OP_MAPS_RBL, 0, NULL},
    {"reject_rhsbl_client", RULES_OP_RHSBL_CLIENT, 0, NULL},
    {"reject_rhsbl_reverse_client", RULES_OP_RHSBL_REVERSE_CLIENT, 0, NULL},
    {"reject_rhsbl_helo", RULES_OP_RHSBL_HELO, 0, NULL},
    {"reject_rhsbl_sender", RULES_OP_RHSBL_SENDER, 0, NULL},
    {"reject_rhsbl_recipient", RULES_OP_RHSBL_RECIPIENT, 0, NULL},
    {"permit_dnswl_client", RULES_OP_DNSWL_CLIENT, 0, NULL},
    {"permit_rhswl_client", RULES_OP_RHSWL_CLIENT, 0, NULL},
    {"reject_unknown_client_hostname", RULES_OP_UNKNOWN_CLIENT, 0, NULL},
    {"reject_unknown_client", RULES_OP_UNKNOWN_CLIENT, 0, NULL},
    {"reject_unknown_reverse_client_hostname", RULES_OP_UNKNOWN_REVERSE, 0, NULL},
    {"reject_unknown_helo_hostname", RULES_OP_UNKNOWN_HELO, 0, NULL},
    {"reject_unknown_hostname", RULES_OP_UNKNOWN_HELO, 0, NULL},
    {"reject_unknown_sender_domain", RULES_OP_UNKNOWN_SENDER, 0, NULL},
    {"reject_unknown_address", RULES_OP_UNKNOWN_SENDER, 0, NULL},
    {"reject_unknown_recipient_domain", RULES_OP_UNKNOWN_RCPT, 0, NULL},
    /* Postfix 3.7 builds without FORWARD_CLIENT_NAME: it has no such restriction. */
    {"reject_unknown_forward_client_hostname", RULES_OP_INVALID, 0,
     NOT_YET " (Postfix 3.7 has no such restriction)"},
    /* DNS and other services: later work. */
    {"reject_unverified_sender", RULES_OP_INVALID, 0, DNS_WHY},
    {"reject_unverified_recipient", RULES_OP_INVALID, 0, DNS_WHY},
    {"permit_mx_backup", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_client_mx_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_client_ns_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_client_a_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_reverse_client_mx_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_reverse_client_ns_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_reverse_client_a_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_helo_mx_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_helo_ns_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_helo_a_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_sender_mx_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_sender_ns_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_sender_a_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_recipient_mx_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_recipient_ns_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_recipient_a_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_reverse_client_access", RULES_OP_INVALID, 0, DNS_WHY},
    {"check_policy_service", RULES_OP_INVALID, 0, NOT_YET},
    {"reject_unlisted_sender", RULES_OP_INVALID, 0, NOT_YET " (it needs Postfix's address maps)"},
    {"reject_unlisted_recipient", RULES_OP_INVALID, 0,
     NOT_YET " (it needs Postfix's address maps)"},
    {"check_recipient_maps", RULES_OP_INVALID, 0, NOT_YET " (it needs Postfix's address maps)"},
    {"check_relay_domains", RULES_OP_INVALID, 0, NOT_YET " (use reject_unauth_destination)"},
    {"permit_naked_ip_address", RULES_OP_INVALID, 0, NOT_YET " (use permit_mynetworks)"},
    {"check_etrn_access", RULES_OP_INVALID, 0, NOT_YET " (no ETRN after the queue)"},
    {"sleep", RULES_OP_INVALID, 0, NOT_YET},
    {NULL, RULES_OP_INVALID, 0, NULL},
};

int rules_builtin(const char *name, enum rules_op *op, int *needs_table, const char **why)
{
    for (const struct rules_builtin_entry *e = rules_builtins; e->name != NULL; e++) {
        if (strcasecmp(e->name, name) != 0)
            continue;
        *op = e->op;
        *needs_table = e->needs_table;
        *why = e->unsupported;
        return e->unsupported != NULL ? -1 : 1;
    }
    return 0;
}

int rules_op_needs_domain(enum rules_op op)
{
    switch (op) {
    case RULES_OP_RBL_CLIENT:
    case RULES_OP_DNSWL_CLIENT:
    case RULES_OP_RHSBL_CLIENT:
    case RULES_OP_RHSWL_CLIENT:
    case RULES_OP_RHSBL_REVERSE_CLIENT:
    case RULES_OP_RHSBL_HELO:
    case RULES_OP_RHSBL_SENDER:
    case RULES_OP_RHSBL_RECIPIENT:
        return 1;
    default:
        return 0;
    }
}

int rules_op_is_dns(enum rules_op op)
{
    switch (op) {
    case RULES_OP_MAPS_RBL:
    case RULES_OP_UNKNOWN_CLIENT:
    case RULES_OP_UNKNOWN_REVERSE:
    case RULES_OP_UNKNOWN_HELO:
    case RULES_OP_UNKNOWN_SENDER:
    case RULES_OP_UNKNOWN_RCPT:
        return 1;
    default:
        return rules_op_needs_domain(op);
    }
}

/* The domain argument of a DNS list restriction (the next word, whatever
 * it is, as Postfix). 0, or -1 with err ("restriction X requires domain
 * name argument", or a malformed =d.d.d.d filter). */
static int rules_domain_arg(const char *name, char **words, size_t count, size_t *i, char **arg,
                            char *err, size_t errlen)
{
    char aerr[512];

    if (*i + 1 >= count) {
        snprintf(err, errlen, "restriction %s requires domain name argument", name);
        return -1;
    }
    if (rules_dns_check_arg(words[*i + 1], aerr, sizeof(aerr)) < 0) {
        snprintf(err, errlen, "restriction %s: %s", name, aerr);
        return -1;
    }
    *arg = xstrdup(words[++*i]);
    return 0;
}

char **rules_split(const char *value, size_t *count)
{
    char **words = NULL;
    size_t n = 0;
    const char *cp = value;

    /* mystrtokq(): separators inside {...} do not split, so that
     * "inline:{ a=b, c=d }" stays one word. An unbalanced brace runs to the
     * end (the table then reports it). */
    for (;;) {
        size_t span = 0;
        int depth = 0;
        cp += strspn(cp, ", \t\r\n");
        if (*cp == '\0')
            break;
        for (; cp[span] != '\0'; span++) {
            if (cp[span] == '{')
                depth++;
            else if (cp[span] == '}' && depth > 0)
                depth--;
            else if (depth == 0 && strchr(", \t\r\n", cp[span]) != NULL)
                break;
        }
        words = xrealloc(words, (n + 1) * sizeof(*words));
        words[n++] = xstrndup(cp, span);
        cp += span;
    }
    *count = n;
    return words;
}

void rules_split_free(char **words, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(words[i]);
    free(words);
}

struct rules_class *rules_find_class(const struct rules *rules, const char *name)
{
    for (size_t i = 0; i < rules->class_count; i++)
        if (strcmp(rules->classes[i].name, name) == 0)
            return &rules->classes[i];
    return NULL;
}

struct table *rules_open_table(struct rules *rules, const char *spec, char *err, size_t errlen)
{
    struct table *table;

    for (size_t i = 0; i < rules->table_count; i++)
        if (strcmp(rules->tables[i].spec, spec) == 0)
            return rules->tables[i].table;
    if ((table = table_open(spec, err, errlen)) == NULL)
        return NULL;
    rules->tables = xrealloc(rules->tables, (rules->table_count + 1) * sizeof(*rules->tables));
    rules->tables[rules->table_count].spec = xstrdup(spec);
    rules->tables[rules->table_count].table = table;
    rules->table_count++;
    return table;
}

static void rules_list_add(struct rules_list *list, enum rules_op op, const char *name,
                           struct table *table, struct rules_class *klass)
{
    struct rules_item *item;

    list->items = xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
    item = &list->items[list->count++];
    item->op = op;
    item->name = xstrdup(name);
    item->table = table;
    item->klass = klass;
    item->arg = NULL;
}

void rules_list_free(struct rules_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        free(list->items[i].arg);
    }
    free(list->items);
    free(list->param);
    memset(list, 0, sizeof(*list));
}

/* Where a parameter was set, for error messages. */
static void rules_where(const struct rules_source *source, const char *name, char *buf, size_t len)
{
    buf[0] = '\0';
    if (source->where != NULL)
        source->where(source->ctx, name, buf, len);
    if (buf[0] == '\0')
        snprintf(buf, len, "parameter %s", name);
}

static const char *rules_get(const struct rules_source *source, const char *name)
{
    const char *value = source->get(source->ctx, name);

    if (value == NULL) {
        for (const struct rules_param *p = rules_params; p->name != NULL; p++)
            if (strcmp(p->name, name) == 0)
                return p->default_value;
    }
    return value;
}

/* One restriction list: names resolved, tables opened. */
static int rules_parse_list(struct rules *rules, const struct rules_source *source,
                            const char *param, struct rules_list *list, char *err, size_t errlen)
{
    const char *value = rules_get(source, param);
    char where[512];
    size_t count;
    char **words;
    int rc = 0;

    list->param = xstrdup(param);
    if (value == NULL)
        return 0;
    rules_where(source, param, where, sizeof(where));
    words = rules_split(value, &count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *name = words[i];
        enum rules_op op;
        int needs_table;
        const char *why;
        struct rules_class *klass;
        struct table *table;
        char terr[1024];
        int known = rules_builtin(name, &op, &needs_table, &why);

        if (known < 0) {
            snprintf(err, errlen, "%s: parameter %s: restriction \"%s\" %s", where, param, name,
                     why);
            rc = -1;
        } else if (known > 0 && needs_table) {
            if (i + 1 >= count || strchr(words[i + 1], ':') == NULL) {
                snprintf(err, errlen,
                         "%s: parameter %s: restriction %s: bad argument \"%s\": need "
                         "maptype:mapname",
                         where, param, name, i + 1 < count ? words[i + 1] : "");
                rc = -1;
            } else if ((table = rules_open_table(rules, words[++i], terr, sizeof(terr))) == NULL) {
                snprintf(err, errlen, "%s: parameter %s: %s", where, param, terr);
                rc = -1;
            } else {
                if (op == RULES_OP_NOOP)
                    msg_warn("%s: parameter %s: restriction %s: %s; it never decides here", where,
                             param, name, BEFORE_QUEUE);
                rules_list_add(list, op, name, table, NULL);
            }
        } else if (known > 0 && rules_op_needs_domain(op)) {
            char *arg;
            if (rules_domain_arg(name, words, count, &i, &arg, terr, sizeof(terr)) < 0) {
                snprintf(err, errlen, "%s: parameter %s: %s", where, param, terr);
                rc = -1;
            } else {
                rules_list_add(list, op, name, NULL, NULL);
                list->items[list->count - 1].arg = arg;
            }
        } else if (known > 0) {
            if (op == RULES_OP_NOOP)
                msg_warn("%s: parameter %s: restriction %s: %s; it never decides here", where,
                         param, name, BEFORE_QUEUE);
            if (op == RULES_OP_MAPS_RBL)
                msg_warn("%s: parameter %s: support for restriction \"reject_maps_rbl\" will be "
                         "removed from Postfix; use \"reject_rbl_client domain-name\" instead",
                         where, param);
            rules_list_add(list, op, name, NULL, NULL);
        } else if ((klass = rules_find_class(rules, name)) != NULL) {
            rules_list_add(list, RULES_OP_CLASS, name, NULL, klass);
        } else if (strchr(name, ':') != NULL) {
            if ((table = rules_open_table(rules, name, terr, sizeof(terr))) == NULL) {
                snprintf(err, errlen, "%s: parameter %s: %s", where, param, terr);
                rc = -1;
            } else {
                rules_list_add(list, RULES_OP_BARE_TABLE, name, table, NULL);
            }
        } else {
            snprintf(err, errlen, "%s: parameter %s: unknown restriction \"%s\"", where, param,
                     name);
            rc = -1;
        }
    }
    rules_split_free(words, count);
    return rc;
}

void rules_parse_runtime(const struct rules *rules, const char *value, struct rules_list *list)
{
    size_t count;
    char **words = rules_split(value, &count);

    memset(list, 0, sizeof(*list));
    list->param = xstrdup("table result");
    for (size_t i = 0; i < count; i++) {
        const char *name = words[i];
        enum rules_op op;
        int needs_table;
        const char *why;
        struct rules_class *klass;
        int known = rules_builtin(name, &op, &needs_table, &why);
        char *text = NULL;

        if (known > 0 && rules_op_needs_domain(op)) {
            char *arg;
            char aerr[512];
            /* As at load, but an error fails only when reached (451 4.3.5). */
            if (rules_domain_arg(name, words, count, &i, &arg, aerr, sizeof(aerr)) < 0) {
                rules_list_add(list, RULES_OP_INVALID, aerr, NULL, NULL);
            } else {
                rules_list_add(list, op, name, NULL, NULL);
                list->items[list->count - 1].arg = arg;
            }
            continue;
        }
        if (known > 0 && !needs_table) {
            rules_list_add(list, op, name, NULL, NULL);
            continue;
        }
        if (known == 0 && (klass = rules_find_class(rules, name)) != NULL) {
            rules_list_add(list, RULES_OP_CLASS, name, NULL, klass);
            continue;
        }
        /* A table cannot appear here (the caller refused any ':'). */
        if (known > 0)
            text = xasprintf("restriction %s: bad argument \"%s\": need maptype:mapname", name,
                             i + 1 < count ? words[i + 1] : "");
        else if (known < 0)
            text = xasprintf("restriction \"%s\" %s", name, why);
        else
            text = xasprintf("unknown smtpd restriction: \"%s\"", name);
        rules_list_add(list, RULES_OP_INVALID, text, NULL, NULL);
        free(text);
    }
    rules_split_free(words, count);
}

/* Declared classes first (so that lists may name them), then each
 * definition. */
static int rules_load_classes(struct rules *rules, const struct rules_source *source, char *err,
                              size_t errlen)
{
    const char *value = rules_get(source, "smtpd_restriction_classes");
    size_t count;
    char **names = rules_split(value != NULL ? value : "", &count);
    char where[512];
    int rc = 0;

    rules->classes = xcalloc(count + 1, sizeof(*rules->classes));
    for (size_t i = 0; i < count; i++) {
        if (rules_find_class(rules, names[i]) != NULL)
            continue;
        rules->classes[rules->class_count++].name = xstrdup(names[i]);
    }
    for (size_t i = 0; rc == 0 && i < rules->class_count; i++) {
        struct rules_class *klass = &rules->classes[i];
        const char *def = source->get(source->ctx, klass->name);
        if (def == NULL || *def == '\0') {
            rules_where(source, "smtpd_restriction_classes", where, sizeof(where));
            snprintf(err, errlen, "%s: restriction class `%s' needs a definition", where,
                     klass->name);
            rc = -1;
            break;
        }
        rc = rules_parse_list(rules, source, klass->name, &klass->list, err, errlen);
    }
    rules_split_free(names, count);
    return rc;
}

static int rules_bool(const struct rules_source *source, const char *name, int *value, char *err,
                      size_t errlen)
{
    const char *text = rules_get(source, name);
    char where[512];

    if (text == NULL || strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0) {
        *value = text != NULL;
        return 0;
    }
    if (strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0) {
        *value = 0;
        return 0;
    }
    rules_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad boolean configuration: %s = %s", where, name, text);
    return -1;
}

/* A reply code. Postfix reads any number and checks it only when it
 * replies (then "450 4.7.1 Service unavailable"); we refuse non-numbers. */
static int rules_code(const struct rules_source *source, const char *name, int *value, char *err,
                      size_t errlen)
{
    const char *text = rules_get(source, name);
    char where[512];

    if (text != NULL && *text != '\0' && strspn(text, "0123456789") == strlen(text) &&
        strlen(text) <= 4) {
        *value = atoi(text);
        return 0;
    }
    rules_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad numerical configuration: %s = %s", where, name,
             text != NULL ? text : "");
    return -1;
}

/* Whether name is listed in parent_domain_matches_subdomains. */
static int rules_parent_style(const struct rules_source *source, const char *name)
{
    const char *value = rules_get(source, "parent_domain_matches_subdomains");
    size_t count;
    char **words = rules_split(value != NULL ? value : "", &count);
    int found = 0;

    for (size_t i = 0; i < count && !found; i++)
        found = strcmp(words[i], name) == 0;
    rules_split_free(words, count);
    return found;
}

static int rules_load_params(struct rules *rules, const struct rules_source *source, char *err,
                             size_t errlen)
{
    static const struct {
        const char *name;
        size_t offset;
    } codes[] = {
        {"access_map_reject_code", offsetof(struct rules, access_map_reject_code)},
        {"access_map_defer_code", offsetof(struct rules, access_map_defer_code)},
        {"reject_code", offsetof(struct rules, reject_code)},
        {"defer_code", offsetof(struct rules, defer_code)},
        {"relay_domains_reject_code", offsetof(struct rules, relay_code)},
        {"non_fqdn_reject_code", offsetof(struct rules, non_fqdn_code)},
        {"invalid_hostname_reject_code", offsetof(struct rules, bad_name_code)},
        {"multi_recipient_bounce_reject_code", offsetof(struct rules, multi_rcpt_code)},
    };
    int delay_reject;
    const char *text;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (rules_code(source, codes[i].name, (int *)((char *)rules + codes[i].offset), err,
                       errlen) < 0)
            return -1;
    if (rules_bool(source, "smtpd_delay_reject", &delay_reject, err, errlen) < 0 ||
        rules_bool(source, "soft_bounce", &rules->soft_bounce, err, errlen) < 0 ||
        rules_bool(source, "allow_percent_hack", &rules->allow_percent_hack, err, errlen) < 0 ||
        rules_bool(source, "smtpd_relay_before_recipient_restrictions",
                   &rules->relay_before_recipient, err, errlen) < 0)
        return -1;
    if (!delay_reject)
        msg_warn("smtpd_delay_reject = no: after the queue scand evaluates the client, helo and "
                 "sender restrictions at each recipient, as with yes");
    text = rules_get(source, "recipient_delimiter");
    rules->recipient_delimiter = xstrdup(text != NULL ? text : "");
    text = rules_get(source, "smtpd_null_access_lookup_key");
    rules->null_access_lookup_key = xstrdup(text != NULL ? text : "<>");
    text = rules_get(source, "myorigin");
    rules->myorigin = xstrdup(text != NULL ? text : "");
    text = rules_get(source, "address_verify_sender");
    if (text != NULL && *text != '\0' && strcmp(text, "<>") != 0) {
        rules->verify_sender = strchr(text, '@') != NULL || *rules->myorigin == '\0'
                                   ? xstrdup(text)
                                   : xasprintf("%s@%s", text, rules->myorigin);
    }
    rules->access.recipient_delimiter = rules->recipient_delimiter;
    rules->access.null_access_lookup_key = rules->null_access_lookup_key;
    rules->access.myorigin = rules->myorigin;
    rules->access.parent_domain_matches_subdomains =
        rules_parent_style(source, "smtpd_access_maps");
    return 0;
}

/* unknown_*_tempfail_action: Postfix's names. */
static int rules_tempfail(const struct rules_source *source, const char *name, int *value,
                          char *err, size_t errlen)
{
    const char *text = rules_get(source, name);
    char where[512];

    /* Without a daemon to expand it, a default may still say so. */
    if (text != NULL && strcmp(text, "$reject_tempfail_action") == 0)
        text = rules_get(source, "reject_tempfail_action");
    if (text != NULL && strcasecmp(text, "defer_if_permit") == 0) {
        *value = RULES_TEMPFAIL_DEFER_IF_PERMIT;
        return 0;
    }
    if (text != NULL && strcasecmp(text, "defer") == 0) {
        *value = RULES_TEMPFAIL_DEFER;
        return 0;
    }
    rules_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad %s value: \"%s\" (specify defer or defer_if_permit)", where,
             name, text != NULL ? text : "");
    return -1;
}

/* A name any RBL template may use: "" for the check at load. */
static const char *rules_rbl_probe(void *ctx, const char *name)
{
    static const char *const names[] = {
        "rbl_code",       "rbl_domain",       "rbl_reason",    "rbl_txt",
        "rbl_what",       "rbl_class",        "client",        "client_address",
        "client_name",    "client_port",      "helo_name",     "reverse_client_name",
        "sender",         "sender_name",      "sender_domain", "recipient",
        "recipient_name", "recipient_domain", "localtime",     NULL};

    (void)ctx;
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], name) == 0)
            return "";
    return NULL;
}

static int rules_load_dns_params(struct rules *rules, const struct rules_source *source,
                                 const char *(*get_raw)(void *ctx, const char *name), char *err,
                                 size_t errlen)
{
    const char *text;
    char where[512];
    char why[512];
    char *probe;
    size_t count;
    char **words;
    int rc = 0;

    if (rules_code(source, "maps_rbl_reject_code", &rules->maps_rbl_code, err, errlen) < 0 ||
        rules_code(source, "unknown_address_reject_code", &rules->unknown_address_code, err,
                   errlen) < 0 ||
        rules_code(source, "unknown_hostname_reject_code", &rules->unknown_hostname_code, err,
                   errlen) < 0 ||
        rules_code(source, "unknown_client_reject_code", &rules->unknown_client_code, err, errlen) <
            0 ||
        rules_tempfail(source, "unknown_address_tempfail_action", &rules->unknown_address_tempfail,
                       err, errlen) < 0 ||
        rules_tempfail(source, "unknown_helo_hostname_tempfail_action",
                       &rules->unknown_helo_tempfail, err, errlen) < 0)
        return -1;
    text = get_raw != NULL ? get_raw(source->ctx, "default_rbl_reply") : NULL;
    rules->default_rbl_reply = xstrdup(text != NULL ? text : RULES_DEFAULT_RBL_REPLY);
    if (rules_rbl_expand(rules->default_rbl_reply, rules_rbl_probe, NULL, &probe, why,
                         sizeof(why)) < 0) {
        rules_where(source, "default_rbl_reply", where, sizeof(where));
        snprintf(err, errlen, "%s: bad default_rbl_reply template: %s", where, why);
        return -1;
    }
    free(probe);
    text = rules_get(source, "maps_rbl_domains");
    rules->maps_rbl_domains = rules_split(text != NULL ? text : "", &rules->maps_rbl_domain_count);
    text = rules_get(source, "rbl_reply_maps");
    words = rules_split(text != NULL ? text : "", &count);
    rules->rbl_reply_maps = xcalloc(count + 1, sizeof(*rules->rbl_reply_maps));
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char terr[1024];
        struct table *table = strchr(words[i], ':') != NULL
                                  ? rules_open_table(rules, words[i], terr, sizeof(terr))
                                  : NULL;
        if (table == NULL) {
            if (strchr(words[i], ':') == NULL)
                snprintf(terr, sizeof(terr), "need maptype:mapname, not \"%s\"", words[i]);
            rules_where(source, "rbl_reply_maps", where, sizeof(where));
            snprintf(err, errlen, "%s: parameter rbl_reply_maps: %s", where, terr);
            rc = -1;
        } else {
            rules->rbl_reply_maps[rules->rbl_reply_map_count++] = table;
        }
    }
    rules_split_free(words, count);
    return rc;
}

static int rules_load_match_lists(struct rules *rules, const struct rules_source *source, char *err,
                                  size_t errlen)
{
    static const char *const names[] = {"mynetworks", "relay_domains", "mydestination"};
    struct rules_match_list *lists[] = {&rules->mynetworks, &rules->relay_domains,
                                        &rules->mydestination};
    char where[512];

    for (size_t i = 0; i < 3; i++) {
        rules_where(source, names[i], where, sizeof(where));
        if (rules_match_list_load(rules, lists[i], names[i], rules_get(source, names[i]), where,
                                  rules_parent_style(source, names[i]), err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int rules_load_lists(struct rules *rules, const struct rules_source *source, char *err,
                            size_t errlen)
{
    static const char *const names[] = {"smtpd_client_restrictions",     "smtpd_helo_restrictions",
                                        "smtpd_sender_restrictions",     "smtpd_relay_restrictions",
                                        "smtpd_recipient_restrictions",  "smtpd_data_restrictions",
                                        "smtpd_end_of_data_restrictions"};
    struct rules_list *lists[] = {&rules->client,    &rules->helo, &rules->sender, &rules->relay,
                                  &rules->recipient, &rules->data, &rules->eod};

    for (size_t i = 0; i < 7; i++)
        if (rules_parse_list(rules, source, names[i], lists[i], err, errlen) < 0)
            return -1;
    /* DATA and end-of-data have no default check for a bare table. */
    for (size_t i = 5; i < 7; i++) {
        for (size_t j = 0; j < lists[i]->count; j++) {
            if (lists[i]->items[j].op == RULES_OP_BARE_TABLE) {
                char where[512];
                rules_where(source, names[i], where, sizeof(where));
                snprintf(err, errlen,
                         "%s: parameter %s: specify one of check_client_access, "
                         "check_helo_access, check_sender_access or check_recipient_access "
                         "before \"%s\"",
                         where, names[i], lists[i]->items[j].name);
                return -1;
            }
        }
    }
    return 0;
}

struct rules *rules_load(const struct rules_source *source, char *err, size_t errlen)
{
    return rules_load_raw(source, NULL, err, errlen);
}

struct rules *rules_load_raw(const struct rules_source *source,
                             const char *(*get_raw)(void *ctx, const char *name), char *err,
                             size_t errlen)
{
    struct rules *rules = xcalloc(1, sizeof(*rules));

    if (rules_load_params(rules, source, err, errlen) < 0 ||
        rules_load_dns_params(rules, source, get_raw, err, errlen) < 0 ||
        rules_load_match_lists(rules, source, err, errlen) < 0 ||
        rules_load_classes(rules, source, err, errlen) < 0 ||
        rules_load_lists(rules, source, err, errlen) < 0) {
        rules_free(rules);
        return NULL;
    }
    return rules;
}

void rules_free(struct rules *rules)
{
    if (rules == NULL)
        return;
    rules_list_free(&rules->client);
    rules_list_free(&rules->helo);
    rules_list_free(&rules->sender);
    rules_list_free(&rules->relay);
    rules_list_free(&rules->recipient);
    rules_list_free(&rules->data);
    rules_list_free(&rules->eod);
    for (size_t i = 0; i < rules->class_count; i++) {
        rules_list_free(&rules->classes[i].list);
        free(rules->classes[i].name);
    }
    free(rules->classes);
    rules_match_list_free(&rules->mynetworks);
    rules_match_list_free(&rules->relay_domains);
    rules_match_list_free(&rules->mydestination);
    for (size_t i = 0; i < rules->table_count; i++) {
        table_free(rules->tables[i].table);
        free(rules->tables[i].spec);
    }
    free(rules->tables);
    free(rules->recipient_delimiter);
    free(rules->null_access_lookup_key);
    free(rules->myorigin);
    free(rules->verify_sender);
    free(rules->rbl_reply_maps); /* the tables are in rules->tables */
    free(rules->default_rbl_reply);
    rules_split_free(rules->maps_rbl_domains, rules->maps_rbl_domain_count);
    free(rules);
}

int rules_changed(const struct rules *rules)
{
    for (size_t i = 0; i < rules->table_count; i++)
        if (table_changed(rules->tables[i].table))
            return 1;
    return 0;
}

int rules_empty(const struct rules *rules)
{
    size_t total = rules->client.count + rules->helo.count + rules->sender.count +
                   rules->relay.count + rules->recipient.count + rules->data.count +
                   rules->eod.count;
    return total == 0;
}

static int rules_list_needs_dns(const struct rules_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        enum rules_op op = list->items[i].op;
        if (rules_op_is_dns(op) || op == RULES_OP_BARE_TABLE || op == RULES_OP_CHECK_CLIENT ||
            op == RULES_OP_CHECK_HELO || op == RULES_OP_CHECK_SENDER ||
            op == RULES_OP_CHECK_RECIPIENT)
            return 1;
    }
    return 0;
}

/* A DNS restriction in a list or class; or an access table, whose result
 * may name one at run time ("reject_rbl_client bl.example" as a value):
 * without a resolver such a lookup fails temporarily, which is safe (an
 * RBL is then not a listing, reject_unknown_* defers) but not what the
 * admin meant, and a resolver that is never asked costs little. */
int rules_need_dns(const struct rules *rules)
{
    const struct rules_list *lists[] = {&rules->client, &rules->helo,      &rules->sender,
                                        &rules->relay,  &rules->recipient, &rules->data,
                                        &rules->eod};

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (rules_list_needs_dns(lists[i]))
            return 1;
    for (size_t i = 0; i < rules->class_count; i++)
        if (rules_list_needs_dns(&rules->classes[i].list))
            return 1;
    return 0;
}

void rules_tx_init(struct rules_tx *tx)
{
    memset(tx, 0, sizeof(*tx));
}

void rules_verdict_free(struct rules_verdict *verdict)
{
    free(verdict->reply);
    free(verdict->discard);
    free(verdict->hold);
    free(verdict->filter);
    free(verdict->redirect);
    for (size_t i = 0; i < verdict->bcc_count; i++)
        free(verdict->bcc[i]);
    free(verdict->bcc);
    for (size_t i = 0; i < verdict->prepend_count; i++)
        free(verdict->prepend[i]);
    free(verdict->prepend);
    for (size_t i = 0; i < verdict->note_count; i++) {
        free(verdict->notes[i].kind);
        free(verdict->notes[i].text);
    }
    free(verdict->notes);
    memset(verdict, 0, sizeof(*verdict));
}
