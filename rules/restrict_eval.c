/*
 * restrict_eval.c - evaluating the restrictions for one stage, as Postfix
 * 3.7's smtpd_check.c does (postfix-semantics.md sections 1 to 7).
 *
 * Policy:
 *  - At RCPT (smtpd_delay_reject): a bare "postmaster" recipient and the
 *    address verification sender skip everything; then the client, helo
 *    (only when the client sent one), sender (only after MAIL), relay and
 *    recipient lists run in that order (relay first, as with
 *    compatibility_level >= 3.6, unless
 *    smtpd_relay_before_recipient_restrictions = no). Each list ends at its
 *    first OK or reject; only a reject stops the stage.
 *  - One action dispatcher, eval_table_result(), speaks Postfix's access(5)
 *    vocabulary; everything that rejects goes through eval_reject(), which
 *    applies warn_if_reject, DEFER_IF_REJECT, soft_bounce, the code/enhanced
 *    code checks and the "first digits agree" rule, exactly once.
 *  - DEFER_IF_PERMIT lasts for the whole recipient evaluation; it turns an
 *    acceptance into its deferral. DEFER_IF_REJECT lasts for one list
 *    (relay and recipient lists count as one) and turns a 5xx into its
 *    deferral. The first reason of each kind is kept.
 *  - Configuration errors found while evaluating (a table result naming a
 *    table or an unknown restriction, nesting deeper than 100) reply
 *    "451 4.3.5 Server configuration error" and stop the stage, as
 *    Postfix's longjmp does; warn_if_reject does not soften them.
 *  - A table lookup error is answered as Postfix 3.7 does: the value
 *    "451 4.3.5 Server configuration error" is fed through the dispatcher,
 *    giving "451 4.3.5 <NAME>: CLASS rejected: Server configuration error".
 *    A match-list lookup error (mynetworks, relay_domains, mydestination
 *    tables) is "451 4.3.0 <NAME>: Temporary lookup failure".
 *  - DISCARD permits, and every later restriction of the transaction is
 *    skipped (tx->discarded), for later recipients too.
 *  - Nesting: the counter grows with every list evaluated; Postfix checks
 *    "> 100" before evaluating a table result, and so do we; scand also
 *    checks it before entering a restriction class, where Postfix would
 *    recurse without limit on a class that names itself.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

enum {
    CHECK_DUNNO = 0,
    CHECK_OK = 1,
    CHECK_REJECT = 2,
};

#define CLASS_CLIENT "Client host"
#define CLASS_HELO "Helo command"
#define CLASS_SENDER "Sender address"
#define CLASS_RECIPIENT "Recipient address"
#define CLASS_DATA "Data command"
#define CLASS_EOD "End-of-data"

#define RECURSION_LIMIT 100

struct eval_defer {
    int active;
    int code;
    char dsn[16];
    char *reason;
};

struct eval {
    struct rules *rules;
    const struct rules_query *query;
    struct rules_tx *tx;
    struct rules_verdict *verdict;
    const struct rules_explain *explain;
    enum rules_stage stage;
    const char *recipient; /* NULL at DATA with several recipients */
    char *namaddr;         /* "name[addr]" */
    int recursion;
    int warn_if_reject;
    struct eval_defer defer_if_permit;
    struct eval_defer defer_if_reject;
    char *reply;     /* the last rejection's text */
    int dns_pending; /* a DNS restriction waits for an answer: no decision this pass */
};

static int eval_list(struct eval *ev, const struct rules_list *list, const char *reply_name,
                     const char *reply_class, enum rules_op def_acl);

/* --explain: one line, indented by the nesting level; eval_explain() for
 * a restriction, eval_detail() for what happened inside it (keys tried,
 * the action, the reply). */
static void eval_explain_at(struct eval *ev, int extra, const char *fmt, va_list ap)
{
    char *text;

    if (ev->explain == NULL || ev->explain->line == NULL)
        return;
    if (vasprintf(&text, fmt, ap) < 0)
        return;
    ev->explain->line(ev->explain->ctx, ev->recursion + extra, text);
    free(text);
}

static void eval_explain(struct eval *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void eval_explain(struct eval *ev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    eval_explain_at(ev, 0, fmt, ap);
    va_end(ap);
}

static void eval_detail(struct eval *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void eval_detail(struct eval *ev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    eval_explain_at(ev, 1, fmt, ap);
    va_end(ap);
}

static void eval_note(struct eval *ev, const char *kind, const char *text)
{
    struct rules_verdict *v = ev->verdict;

    v->notes = xrealloc(v->notes, (v->note_count + 1) * sizeof(*v->notes));
    v->notes[v->note_count].kind = xstrdup(kind);
    v->notes[v->note_count].text = xstrdup(text);
    v->note_count++;
}

static char **eval_append(char **list, size_t *count, const char *text)
{
    list = xrealloc(list, (*count + 1) * sizeof(*list));
    list[(*count)++] = xstrdup(text);
    return list;
}

/* smtpd_check_reject(): build the reply, then decide whether it is a
 * rejection, a warning (warn_if_reject) or a DEFER_IF_REJECT deferral. */
static int eval_reject(struct eval *ev, int software, int code, const char *dsn, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));
static int eval_reject(struct eval *ev, int software, int code, const char *dsn, const char *fmt,
                       ...)
{
    int warn = ev->warn_if_reject && !software;
    char *body;
    char *text;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&body, fmt, ap) < 0)
        body = NULL;
    va_end(ap);
    if (body == NULL)
        msg_panic("eval_reject: out of memory");
    text = xasprintf("%d %s %s", code, dsn, body);
    free(body);
    if (code < 400 || code > 599 || !rules_dsn_valid(dsn)) {
        msg_warn("SMTP reply code or DSN configuration error: %s", text);
        free(text);
        text = xstrdup("450 4.7.1 Service unavailable");
    }
    if (strlen(text) > 510)
        text[510] = '\0';
    rules_printable(text);
    if (!warn && ev->defer_if_reject.active && text[0] == '5') {
        struct eval_defer *d = &ev->defer_if_reject;
        ev->warn_if_reject = 0;
        d->active = 0;
        free(text);
        eval_detail(ev, "a reject turns into the earlier DEFER_IF_REJECT");
        return eval_reject(ev, 0, d->code, d->dsn, "%s", d->reason);
    }
    if (ev->rules->soft_bounce && text[0] == '5')
        text[0] = '4';
    text[4] = text[0];
    if (warn) {
        eval_detail(ev, "warn_if_reject: would reply \"%s\"; going on", text);
        eval_note(ev, "reject_warning", text);
        free(text);
        return CHECK_DUNNO;
    }
    eval_detail(ev, "reply: %s", text);
    free(ev->reply);
    ev->reply = text;
    return CHECK_REJECT;
}

static int eval_config_error(struct eval *ev, const char *why)
{
    msg_warn("%s", why);
    eval_detail(ev, "configuration error: %s", why);
    return eval_reject(ev, 1, 451, "4.3.5", "Server configuration error");
}

/* defer_if(): remember the first reason only. */
static void eval_defer_if(struct eval_defer *d, int code, const char *dsn, const char *reason)
{
    if (d->active)
        return;
    d->active = 1;
    d->code = code;
    snprintf(d->dsn, sizeof(d->dsn), "%s", dsn);
    free(d->reason);
    d->reason = xstrdup(reason);
}

/* is_header(): "Name:" with a name of printable non-blank characters,
 * optionally followed by blanks before the colon. */
static int eval_is_header(const char *text)
{
    const char *cp = text;

    while (*cp && *cp != ':' && isgraph((unsigned char)*cp))
        cp++;
    if (cp == text)
        return 0;
    while (*cp == ' ' || *cp == '\t')
        cp++;
    return *cp == ':';
}

static int eval_all_digits(const char *text)
{
    return *text != '\0' && strspn(text, "0123456789") == strlen(text);
}

/* A word equal to a given action, case-insensitive. */
static int eval_is(const char *value, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(value, word, len) == 0;
}

/* check_table_result(): the action dispatcher (access(5)). table is the
 * spec, for warnings. */
static int eval_table_result(struct eval *ev, const char *table, const char *value,
                             const char *reply_name, const char *reply_class, enum rules_op def_acl)
{
    size_t cmd_len = strcspn(value, " \t");
    const char *text = value + cmd_len;
    char dsn[16];
    const char *msg;
    char *log;
    int status;

    while (isspace((unsigned char)*text))
        text++;

    if (eval_is(value, cmd_len, "DUNNO"))
        return CHECK_DUNNO;
    if (eval_is(value, cmd_len, "REJECT")) {
        msg = rules_dsn_split(text, "5.7.1", dsn, sizeof(dsn));
        rules_dsn_fix(dsn, reply_class);
        return eval_reject(ev, 0, ev->rules->access_map_reject_code, dsn, "<%s>: %s rejected: %s",
                           reply_name, reply_class, *msg ? msg : "Access denied");
    }
    if (eval_is(value, cmd_len, "DEFER")) {
        msg = rules_dsn_split(text, "4.7.1", dsn, sizeof(dsn));
        rules_dsn_fix(dsn, reply_class);
        return eval_reject(ev, 0, ev->rules->access_map_defer_code, dsn, "<%s>: %s rejected: %s",
                           reply_name, reply_class, *msg ? msg : "Access denied");
    }
    if (eval_is(value, cmd_len, "INFO") || eval_is(value, cmd_len, "WARN")) {
        eval_note(ev, eval_is(value, cmd_len, "INFO") ? "info" : "warn", text);
        return CHECK_DUNNO;
    }
    if (eval_is(value, cmd_len, "FILTER")) {
        if (*text == '\0' || strchr(text, ':') == NULL) {
            msg_warn("access table %s entry \"%s\" %s", table, value,
                     *text == '\0' ? "has FILTER entry without value"
                                   : "requires transport:destination");
            return CHECK_DUNNO;
        }
        log = xasprintf("<%s>: %s triggers FILTER %s", reply_name, reply_class, text);
        eval_note(ev, "filter", log);
        free(log);
        free(ev->verdict->filter);
        ev->verdict->filter = xstrdup(text);
        return CHECK_DUNNO;
    }
    if (eval_is(value, cmd_len, "HOLD")) {
        if (ev->tx->held)
            return CHECK_DUNNO;
        log = xasprintf("<%s>: %s %s", reply_name, reply_class,
                        *text ? text : "triggers HOLD action");
        eval_note(ev, "hold", log);
        free(log);
        ev->tx->held = 1;
        free(ev->verdict->hold);
        ev->verdict->hold = xstrdup(text);
        return CHECK_DUNNO;
    }
    if (eval_is(value, cmd_len, "DISCARD")) {
        log = xasprintf("<%s>: %s %s", reply_name, reply_class,
                        *text ? text : "triggers DISCARD action");
        eval_note(ev, "discard", log);
        free(log);
        ev->tx->discarded = 1;
        free(ev->verdict->discard);
        ev->verdict->discard = xstrdup(text);
        return CHECK_OK;
    }
    if (eval_is(value, cmd_len, "REDIRECT") || eval_is(value, cmd_len, "BCC")) {
        int bcc = eval_is(value, cmd_len, "BCC");
        if (strchr(text, '@') == NULL) {
            msg_warn("access table %s entry \"%s\" requires user@domain target", table, value);
            return CHECK_DUNNO;
        }
        log = xasprintf("<%s>: %s triggers %s %s", reply_name, reply_class,
                        bcc ? "BCC" : "REDIRECT", text);
        eval_note(ev, bcc ? "bcc" : "redirect", log);
        free(log);
        if (bcc) {
            ev->verdict->bcc = eval_append(ev->verdict->bcc, &ev->verdict->bcc_count, text);
        } else {
            free(ev->verdict->redirect);
            ev->verdict->redirect = xstrdup(text);
        }
        return CHECK_DUNNO;
    }
    if (eval_is(value, cmd_len, "DEFER_IF_PERMIT") || eval_is(value, cmd_len, "DEFER_IF_REJECT")) {
        int if_permit = eval_is(value, cmd_len, "DEFER_IF_PERMIT");
        char *reason;
        msg = rules_dsn_split(text, "4.7.1", dsn, sizeof(dsn));
        rules_dsn_fix(dsn, reply_class);
        if (if_permit && ev->warn_if_reject)
            return eval_reject(ev, 0, ev->rules->access_map_defer_code, dsn,
                               "<%s>: %s rejected: %s", reply_name, reply_class,
                               *msg ? msg : "Service unavailable");
        reason = xasprintf("<%s>: %s rejected: %s", reply_name, reply_class,
                           *msg ? msg : "Service unavailable");
        eval_defer_if(if_permit ? &ev->defer_if_permit : &ev->defer_if_reject,
                      ev->rules->access_map_defer_code, dsn, reason);
        eval_detail(ev, "%s remembered: %d %s %s",
                    if_permit ? "DEFER_IF_PERMIT" : "DEFER_IF_REJECT",
                    ev->rules->access_map_defer_code, dsn, reason);
        free(reason);
        return CHECK_DUNNO;
    }
    if (eval_is(value, cmd_len, "PREPEND")) {
        if (ev->stage == RULES_STAGE_END_OF_DATA) {
            msg_warn("access table %s: action PREPEND must be used before "
                     "smtpd_end_of_data_restrictions",
                     table);
            return CHECK_DUNNO;
        }
        if (*text == '\0' || !eval_is_header(text)) {
            msg_warn("access table %s entry \"%s\" requires header: text", table, value);
            return CHECK_DUNNO;
        }
        ev->verdict->prepend = eval_append(ev->verdict->prepend, &ev->verdict->prepend_count, text);
        return CHECK_DUNNO;
    }
    /* An all-numeric value is OK: some out-of-band schemes store a time. */
    if (eval_all_digits(value))
        return CHECK_OK;
    if (cmd_len == 3 && *text && (value[0] == '4' || value[0] == '5') &&
        isdigit((unsigned char)value[1]) && isdigit((unsigned char)value[2])) {
        char def[] = "5.7.1";
        def[0] = value[0];
        msg = rules_dsn_split(text, def, dsn, sizeof(dsn));
        rules_dsn_fix(dsn, reply_class);
        return eval_reject(ev, 0, atoi(value), dsn, "<%s>: %s rejected: %s", reply_name,
                           reply_class, *msg ? msg : "Access denied");
    }
    if (eval_is(value, cmd_len, "OK") || eval_is(value, cmd_len, "RELAY"))
        return CHECK_OK;
    if (strchr(value, ':') != NULL) {
        char *why = xasprintf("access table %s has entry with lookup table: %s (do not specify "
                              "lookup tables inside SMTPD access maps; define a restriction "
                              "class and specify its name instead)",
                              table, value);
        status = eval_config_error(ev, why);
        free(why);
        return status;
    }
    if (ev->recursion > RECURSION_LIMIT) {
        char *why =
            xasprintf("access table %s entry %s causes unreasonable recursion", table, value);
        status = eval_config_error(ev, why);
        free(why);
        return status;
    }
    {
        struct rules_list list;
        rules_parse_runtime(ev->rules, value, &list);
        if (list.count == 0) {
            msg_warn("access table %s entry %s has empty value", table, value);
            status = CHECK_OK;
        } else {
            status = eval_list(ev, &list, reply_name, reply_class, def_acl);
        }
        rules_list_free(&list);
    }
    return status;
}

/* For the access trace: explain each key. */
static void eval_trace(void *ctx, const char *key, const struct table_result *result)
{
    struct eval *ev = ctx;

    if (result == NULL)
        eval_detail(ev, "key \"%s\": not found", key);
    else
        eval_detail(ev, "key \"%s\": found \"%s\" (%s)", key, result->value,
                    result->where != NULL ? result->where : "");
}

static const char *eval_status_name(int status)
{
    return status == CHECK_OK ? "OK" : status == CHECK_REJECT ? "REJECT" : "DUNNO";
}

/* check_{client,helo,sender,recipient}_access with one table. */
static int eval_access(struct eval *ev, enum rules_op op, const struct rules_item *item,
                       enum rules_op def_acl)
{
    const struct rules_query *q = ev->query;
    struct table_result result;
    const char *reply_name;
    const char *reply_class;
    const char *spec = table_spec(item->table);
    int rc;
    int status;

    memset(&result, 0, sizeof(result));
    switch (op) {
    case RULES_OP_CHECK_CLIENT:
        reply_name = ev->namaddr;
        reply_class = CLASS_CLIENT;
        eval_explain(ev, "check_client_access %s: client %s", spec, ev->namaddr);
        rc = access_lookup_client(item->table, q->client_name ? q->client_name : "unknown",
                                  q->client_addr ? q->client_addr : "unknown", &ev->rules->access,
                                  &result, eval_trace, ev);
        break;
    case RULES_OP_CHECK_HELO:
        if (q->helo == NULL) {
            eval_explain(ev, "check_helo_access %s: no HELO, skipped", spec);
            return CHECK_DUNNO;
        }
        reply_name = q->helo;
        reply_class = CLASS_HELO;
        eval_explain(ev, "check_helo_access %s: helo %s", spec, q->helo);
        rc = access_lookup_hostname(item->table, q->helo, &ev->rules->access, &result, eval_trace,
                                    ev);
        break;
    case RULES_OP_CHECK_SENDER:
        if (q->sender == NULL) {
            eval_explain(ev, "check_sender_access %s: no sender yet, skipped", spec);
            return CHECK_DUNNO;
        }
        reply_name = q->sender;
        reply_class = CLASS_SENDER;
        eval_explain(ev, "check_sender_access %s: sender <%s>", spec, q->sender);
        rc = access_lookup_address(item->table, q->sender, &ev->rules->access, &result, eval_trace,
                                   ev);
        break;
    default:
        if (ev->recipient == NULL) {
            eval_explain(ev, "check_recipient_access %s: no recipient, skipped", spec);
            return CHECK_DUNNO;
        }
        reply_name = ev->recipient;
        reply_class = CLASS_RECIPIENT;
        eval_explain(ev, "check_recipient_access %s: recipient <%s>", spec, ev->recipient);
        rc = access_lookup_address(item->table, ev->recipient, &ev->rules->access, &result,
                                   eval_trace, ev);
        break;
    }
    if (rc == 0) {
        eval_detail(ev, "=> DUNNO (no key found)");
        return CHECK_DUNNO;
    }
    if (rc < 0) {
        msg_warn("%s: table lookup error: %s", spec, result.value ? result.value : "unknown");
        eval_detail(ev, "lookup error: %s", result.value ? result.value : "unknown");
        table_result_free(&result);
        return eval_table_result(ev, spec, "451 4.3.5 Server configuration error", reply_name,
                                 reply_class, def_acl);
    }
    status = eval_table_result(ev, spec, result.value, reply_name, reply_class, def_acl);
    eval_detail(ev, "=> %s", eval_status_name(status));
    table_result_free(&result);
    return status;
}

/* reject_non_fqdn_* for addresses. */
static int eval_non_fqdn_address(struct eval *ev, const char *addr, const char *reply_class)
{
    const char *at = strrchr(addr, '@');
    const char *domain = at != NULL ? at + 1 : "";
    size_t len = strlen(domain);
    char *test;
    int bad;

    if (len > 0 && domain[0] == '[' && domain[len - 1] == ']')
        return CHECK_DUNNO;
    /* Truncate a name ending in dot but not dot-dot. */
    if (len > 1 && domain[len - 1] == '.' && domain[len - 2] != '.')
        len--;
    test = xstrndup(domain, len);
    bad = *test == '\0' || !rules_valid_hostname(test) || strchr(test, '.') == NULL;
    free(test);
    if (!bad)
        return CHECK_DUNNO;
    return eval_reject(ev, 0, ev->rules->non_fqdn_code, "4.5.2",
                       "<%s>: %s rejected: need fully-qualified address", addr, reply_class);
}

/* reject_non_fqdn_helo_hostname and reject_invalid_helo_hostname. */
static int eval_helo_syntax(struct eval *ev, int fqdn)
{
    const char *helo = ev->query->helo;
    size_t len;
    char *test;
    int bad;

    if (helo == NULL)
        return CHECK_DUNNO;
    len = strlen(helo);
    if (helo[0] == '[') {
        /* reject_invalid_hostaddr(): an address literal. */
        if (len > 2 && helo[len - 1] == ']')
            test = xstrndup(helo + 1, len - 2);
        else
            test = xstrdup(helo);
        bad = !rules_valid_mailhost_addr(test);
        free(test);
        if (!bad)
            return CHECK_DUNNO;
        return eval_reject(ev, 0, ev->rules->bad_name_code, "5.5.2",
                           "<%s>: %s rejected: invalid ip address", helo, CLASS_HELO);
    }
    if (len > 1 && helo[len - 1] == '.' && helo[len - 2] != '.')
        len--;
    test = xstrndup(helo, len);
    if (fqdn)
        bad = !rules_valid_hostname(test) || strchr(test, '.') == NULL;
    else
        bad = !rules_valid_hostname(test) && !rules_valid_hostaddr(test);
    free(test);
    if (!bad)
        return CHECK_DUNNO;
    if (fqdn)
        return eval_reject(ev, 0, ev->rules->non_fqdn_code, "5.5.2",
                           "<%s>: %s rejected: need fully-qualified hostname", helo, CLASS_HELO);
    return eval_reject(ev, 0, ev->rules->bad_name_code, "5.5.2", "<%s>: %s rejected: Invalid name",
                       helo, CLASS_HELO);
}

static int eval_lookup_failure(struct eval *ev, const char *reply_name)
{
    return eval_reject(ev, 0, 451, "4.3.0", "<%s>: Temporary lookup failure", reply_name);
}

/* The DNS-based restrictions (restrict_dns.c) decide; their outcome goes
 * through the same reject and deferral paths as every other restriction. */
static void eval_dns_explain(void *ctx, const char *text)
{
    eval_detail(ctx, "%s", text);
}

static void eval_dns_warn(void *ctx, const char *text)
{
    eval_detail(ctx, "warning: %s", text);
    eval_note(ctx, "warning", text);
}

static int eval_dns_tempfail(struct eval *ev, const struct rules_dns_outcome *out)
{
    /* DEFER_IF_PERMIT2(): with warn_if_reject, or "defer", at once. */
    if (out->tempfail == RULES_TEMPFAIL_DEFER_IF_PERMIT && !ev->warn_if_reject) {
        eval_defer_if(&ev->defer_if_permit, out->code, out->dsn, out->text);
        eval_detail(ev, "DEFER_IF_PERMIT remembered: %d %s %s", out->code, out->dsn, out->text);
        return CHECK_DUNNO;
    }
    return eval_reject(ev, 0, out->code, out->dsn, "%s", out->text);
}

static int eval_dns(struct eval *ev, const struct rules_item *item)
{
    struct rules_dns_env env;
    struct rules_dns_outcome out;
    int status = CHECK_DUNNO;

    memset(&env, 0, sizeof(env));
    env.rules = ev->rules;
    env.query = ev->query;
    env.recipient = ev->recipient;
    env.at_rcpt = ev->stage == RULES_STAGE_RCPT;
    env.explain = eval_dns_explain;
    env.warn = eval_dns_warn;
    env.ctx = ev;
    eval_explain(ev, "%s%s%s:", item->name, item->arg ? " " : "", item->arg ? item->arg : "");
    rules_dns_eval(&env, item, &out);
    switch (out.action) {
    case RULES_DNS_ACT_DUNNO:
        eval_detail(ev, "=> DUNNO");
        break;
    case RULES_DNS_ACT_OK:
        eval_detail(ev, "=> OK");
        status = CHECK_OK;
        break;
    case RULES_DNS_ACT_PENDING:
        eval_detail(ev, "=> no decision in this pass: waiting for DNS");
        ev->dns_pending = 1;
        break;
    case RULES_DNS_ACT_REJECT:
        status = eval_reject(ev, out.software, out.code, out.dsn, "%s", out.text);
        break;
    case RULES_DNS_ACT_TEMPFAIL:
        status = eval_dns_tempfail(ev, &out);
        break;
    case RULES_DNS_ACT_DEFER_IF_REJECT:
        eval_defer_if(&ev->defer_if_reject, out.code, out.dsn, out.text);
        eval_detail(ev, "DEFER_IF_REJECT remembered: %d %s %s", out.code, out.dsn, out.text);
        break;
    case RULES_DNS_ACT_LOOKUP_FAILURE:
        status = eval_lookup_failure(ev, out.text);
        break;
    }
    rules_dns_outcome_free(&out);
    return status;
}

static int eval_unauth_destination(struct eval *ev, int code, const char *dsn, int reject,
                                   const char *reply_name)
{
    int rc;

    if (ev->recipient == NULL)
        return CHECK_DUNNO;
    rc = rules_auth_destination(ev->rules, ev->recipient);
    eval_detail(ev, "<%s> is %s", ev->recipient,
                rc > 0   ? "in mydestination or relay_domains"
                : rc < 0 ? "unknown (lookup error)"
                         : "not in mydestination or relay_domains");
    if (rc < 0)
        return eval_lookup_failure(ev, reply_name);
    if (!reject)
        return rc > 0 ? CHECK_OK : CHECK_DUNNO;
    if (rc > 0)
        return CHECK_DUNNO;
    return eval_reject(ev, 0, code, dsn, "<%s>: Relay access denied", ev->recipient);
}

static int eval_class(struct eval *ev, const struct rules_item *item, const char *reply_name,
                      const char *reply_class, enum rules_op def_acl)
{
    int status;

    if (ev->recursion > RECURSION_LIMIT) {
        char *why = xasprintf("restriction class %s causes unreasonable recursion", item->name);
        status = eval_config_error(ev, why);
        free(why);
        return status;
    }
    eval_explain(ev, "class %s:", item->name);
    status = eval_list(ev, &item->klass->list, reply_name, reply_class, def_acl);
    eval_detail(ev, "=> %s (class %s)", eval_status_name(status), item->name);
    return status;
}

/* One restriction. */
static int eval_item(struct eval *ev, const struct rules_item *item, const char *reply_name,
                     const char *reply_class, enum rules_op def_acl)
{
    const struct rules_query *q = ev->query;
    enum rules_op op = item->op;
    int rc;

    if (op == RULES_OP_BARE_TABLE) {
        if (def_acl == RULES_OP_INVALID) {
            char *why = xasprintf("specify one of (check_client_access, check_helo_access, "
                                  "check_sender_access, check_recipient_access) before %s "
                                  "restriction \"%s\"",
                                  reply_class, item->name);
            rc = eval_config_error(ev, why);
            free(why);
            return rc;
        }
        op = def_acl;
    }
    switch (op) {
    case RULES_OP_PERMIT:
        eval_explain(ev, "permit: OK");
        return CHECK_OK;
    case RULES_OP_REJECT:
        return eval_reject(ev, 0, ev->rules->reject_code, "5.7.1",
                           "<%s>: %s rejected: Access denied", reply_name, reply_class);
    case RULES_OP_DEFER:
        return eval_reject(ev, 0, ev->rules->defer_code, "4.3.2",
                           "<%s>: %s rejected: Try again later", reply_name, reply_class);
    case RULES_OP_DEFER_IF_PERMIT: {
        char *reason;
        if (ev->warn_if_reject)
            return eval_reject(ev, 0, 450, "4.7.0", "<%s>: %s rejected: defer_if_permit requested",
                               reply_name, reply_class);
        reason = xasprintf("<%s>: %s rejected: defer_if_permit requested", reply_name, reply_class);
        eval_defer_if(&ev->defer_if_permit, 450, "4.7.0", reason);
        eval_detail(ev, "defer_if_permit remembered: 450 4.7.0 %s", reason);
        free(reason);
        return CHECK_DUNNO;
    }
    case RULES_OP_DEFER_IF_REJECT: {
        char *reason =
            xasprintf("<%s>: %s rejected: defer_if_reject requested", reply_name, reply_class);
        eval_defer_if(&ev->defer_if_reject, 450, "4.7.0", reason);
        eval_detail(ev, "defer_if_reject remembered: 450 4.7.0 %s", reason);
        free(reason);
        return CHECK_DUNNO;
    }
    case RULES_OP_CHECK_CLIENT:
    case RULES_OP_CHECK_HELO:
    case RULES_OP_CHECK_SENDER:
    case RULES_OP_CHECK_RECIPIENT:
        return eval_access(ev, op, item, def_acl);
    case RULES_OP_PERMIT_MYNETWORKS:
        rc = rules_match_namaddr(&ev->rules->mynetworks, q->client_name, q->client_addr);
        eval_explain(ev, "permit_mynetworks: %s %s", ev->namaddr,
                     rc > 0   ? "is in mynetworks: OK"
                     : rc < 0 ? "lookup error"
                              : "is not in mynetworks: DUNNO");
        if (rc < 0)
            return eval_lookup_failure(ev, reply_name);
        return rc > 0 ? CHECK_OK : CHECK_DUNNO;
    case RULES_OP_PERMIT_AUTH_DEST:
        eval_explain(ev, "permit_auth_destination:");
        return eval_unauth_destination(ev, 0, NULL, 0, reply_name);
    case RULES_OP_REJECT_UNAUTH_DEST:
        eval_explain(ev, "reject_unauth_destination:");
        return eval_unauth_destination(ev, ev->rules->relay_code, "5.7.1", 1, reply_name);
    case RULES_OP_DEFER_UNAUTH_DEST:
        eval_explain(ev, "defer_unauth_destination:");
        return eval_unauth_destination(ev, ev->rules->relay_code - 100, "4.7.1", 1, reply_name);
    case RULES_OP_REJECT_NON_FQDN_HELO:
    case RULES_OP_REJECT_INVALID_HELO:
        eval_explain(ev, "%s: helo %s", item->name, q->helo ? q->helo : "(none)");
        return eval_helo_syntax(ev, op == RULES_OP_REJECT_NON_FQDN_HELO);
    case RULES_OP_REJECT_NON_FQDN_SENDER:
        eval_explain(ev, "%s: sender <%s>", item->name, q->sender ? q->sender : "");
        if (q->sender == NULL || *q->sender == '\0')
            return CHECK_DUNNO;
        return eval_non_fqdn_address(ev, q->sender, CLASS_SENDER);
    case RULES_OP_REJECT_NON_FQDN_RCPT:
        eval_explain(ev, "%s: recipient <%s>", item->name, ev->recipient ? ev->recipient : "");
        if (ev->recipient == NULL)
            return CHECK_DUNNO;
        return eval_non_fqdn_address(ev, ev->recipient, CLASS_RECIPIENT);
    case RULES_OP_REJECT_MULTI_RCPT_BOUNCE:
        eval_explain(ev, "%s: %zu recipient(s) so far", item->name, q->rcpt_count);
        if (q->sender != NULL && *q->sender == '\0' &&
            q->rcpt_count > (ev->stage == RULES_STAGE_RCPT ? 0u : 1u))
            return eval_reject(ev, 0, ev->rules->multi_rcpt_code, "5.5.3",
                               "<%s>: %s rejected: Multi-recipient bounce", reply_name,
                               reply_class);
        return CHECK_DUNNO;
    case RULES_OP_UNKNOWN_HELO:
        /* An address literal is checked as reject_invalid_helo_hostname does. */
        if (q->helo != NULL && q->helo[0] == '[') {
            eval_explain(ev, "%s: helo %s: address literal", item->name, q->helo);
            return eval_helo_syntax(ev, 0);
        }
        return eval_dns(ev, item);
    case RULES_OP_RBL_CLIENT:
    case RULES_OP_DNSWL_CLIENT:
    case RULES_OP_RHSBL_CLIENT:
    case RULES_OP_RHSWL_CLIENT:
    case RULES_OP_RHSBL_REVERSE_CLIENT:
    case RULES_OP_RHSBL_HELO:
    case RULES_OP_RHSBL_SENDER:
    case RULES_OP_RHSBL_RECIPIENT:
    case RULES_OP_MAPS_RBL:
    case RULES_OP_UNKNOWN_CLIENT:
    case RULES_OP_UNKNOWN_REVERSE:
    case RULES_OP_UNKNOWN_SENDER:
    case RULES_OP_UNKNOWN_RCPT:
        return eval_dns(ev, item);
    case RULES_OP_NOOP:
        eval_explain(ev, "%s: before the queue only: DUNNO", item->name);
        return CHECK_DUNNO;
    case RULES_OP_CLASS:
        return eval_class(ev, item, reply_name, reply_class, def_acl);
    case RULES_OP_INVALID:
        return eval_config_error(ev, item->name);
    case RULES_OP_WARN_IF_REJECT:
    case RULES_OP_BARE_TABLE:
        break;
    }
    return CHECK_DUNNO;
}

/* generic_checks(). def_acl is the check a bare type:table stands for, or
 * RULES_OP_INVALID when there is none. */
static int eval_list(struct eval *ev, const struct rules_list *list, const char *reply_name,
                     const char *reply_class, enum rules_op def_acl)
{
    int saved_recursion = ev->recursion++;
    int status = CHECK_DUNNO;

    for (size_t i = 0; i < list->count; i++) {
        const struct rules_item *item = &list->items[i];
        if (ev->tx->discarded) {
            eval_explain(ev, "message discarded: later restrictions skipped");
            break;
        }
        if (item->op == RULES_OP_WARN_IF_REJECT) {
            if (ev->warn_if_reject == 0)
                ev->warn_if_reject = ev->recursion;
            eval_explain(ev, "warn_if_reject: the next restriction only warns");
            continue;
        }
        status = eval_item(ev, item, reply_name, reply_class, def_acl);
        if (ev->warn_if_reject >= ev->recursion)
            ev->warn_if_reject = 0;
        if (status != CHECK_DUNNO)
            break;
        if (ev->defer_if_permit.active && ev->defer_if_reject.active)
            break;
    }
    ev->recursion = saved_recursion;
    if (ev->warn_if_reject >= ev->recursion)
        ev->warn_if_reject = 0;
    return status;
}

/* SMTPD_CHECK_RESET(). */
static void eval_reset(struct eval *ev)
{
    ev->recursion = 0;
    ev->warn_if_reject = 0;
    ev->defer_if_reject.active = 0;
}

static int eval_stage_list(struct eval *ev, const struct rules_list *list, const char *reply_name,
                           const char *reply_class, enum rules_op def_acl)
{
    int status;

    if (list->count == 0)
        return CHECK_DUNNO;
    eval_explain(ev, "%s:", list->param);
    status = eval_list(ev, list, reply_name, reply_class, def_acl);
    eval_explain(ev, "%s: %s", list->param,
                 status == CHECK_OK       ? "OK"
                 : status == CHECK_REJECT ? "REJECT"
                                          : "no decision (end of list)");
    return status;
}

/* The end of a stage: a pending DEFER_IF_PERMIT turns acceptance into
 * deferral. */
static int eval_finish(struct eval *ev, int status)
{
    struct eval_defer *d = &ev->defer_if_permit;

    if (status != CHECK_REJECT && d->active) {
        eval_explain(ev, "accepted, but DEFER_IF_PERMIT is pending");
        status = eval_reject(ev, 0, d->code, d->dsn, "%s", d->reason);
    }
    return status;
}

static int eval_rcpt(struct eval *ev)
{
    struct rules *rules = ev->rules;
    const struct rules_query *q = ev->query;
    const struct rules_list *second[2];
    int status;

    if (ev->recipient != NULL && strcasecmp(ev->recipient, "postmaster") == 0) {
        eval_explain(ev, "recipient postmaster: always accepted (RFC 5321 section 4.5.1)");
        return CHECK_DUNNO;
    }
    if (ev->recipient != NULL && rules->verify_sender != NULL &&
        strcasecmp(ev->recipient, rules->verify_sender) == 0) {
        eval_explain(ev, "recipient is the address verification sender: always accepted");
        return CHECK_DUNNO;
    }
    eval_reset(ev);
    status = eval_stage_list(ev, &rules->client, ev->namaddr, CLASS_CLIENT, RULES_OP_CHECK_CLIENT);
    if (status == CHECK_REJECT)
        return status;
    if (q->helo != NULL) {
        eval_reset(ev);
        status = eval_stage_list(ev, &rules->helo, q->helo, CLASS_HELO, RULES_OP_CHECK_HELO);
        if (status == CHECK_REJECT)
            return status;
    }
    if (q->sender != NULL) {
        eval_reset(ev);
        status =
            eval_stage_list(ev, &rules->sender, q->sender, CLASS_SENDER, RULES_OP_CHECK_SENDER);
        if (status == CHECK_REJECT)
            return status;
    }
    eval_reset(ev);
    second[0] = rules->relay_before_recipient ? &rules->relay : &rules->recipient;
    second[1] = rules->relay_before_recipient ? &rules->recipient : &rules->relay;
    status = CHECK_DUNNO;
    for (int n = 0; n < 2 && ev->recipient != NULL; n++) {
        status = eval_stage_list(ev, second[n], ev->recipient, CLASS_RECIPIENT,
                                 RULES_OP_CHECK_RECIPIENT);
        if (status == CHECK_REJECT)
            break;
    }
    return eval_finish(ev, status);
}

static int eval_data(struct eval *ev, const struct rules_list *list, const char *reply_name,
                     const char *reply_class)
{
    int status;

    eval_reset(ev);
    status = eval_stage_list(ev, list, reply_name, reply_class, RULES_OP_INVALID);
    return eval_finish(ev, status);
}

void rules_check(struct rules *rules, enum rules_stage stage, const struct rules_query *query,
                 struct rules_tx *tx, struct rules_verdict *verdict,
                 const struct rules_explain *explain)
{
    struct eval ev;
    struct rules_tx saved_tx = *tx;
    int status;

    memset(verdict, 0, sizeof(*verdict));
    memset(&ev, 0, sizeof(ev));
    ev.rules = rules;
    ev.query = query;
    ev.tx = tx;
    ev.verdict = verdict;
    ev.explain = explain;
    ev.stage = stage;
    ev.namaddr = xasprintf("%s[%s]", query->client_name ? query->client_name : "unknown",
                           query->client_addr ? query->client_addr : "unknown");
    switch (stage) {
    case RULES_STAGE_RCPT:
        ev.recipient = query->recipient;
        status = eval_rcpt(&ev);
        break;
    case RULES_STAGE_DATA:
        /* Postfix names no recipient at DATA when there are several. */
        ev.recipient = query->rcpt_count > 1 ? NULL : query->recipient;
        status = eval_data(&ev, &rules->data, "DATA", CLASS_DATA);
        break;
    default:
        ev.recipient = query->rcpt_count > 1 ? NULL : query->recipient;
        status = eval_data(&ev, &rules->eod, "END-OF-MESSAGE", CLASS_EOD);
        break;
    }
    if (status == CHECK_REJECT && ev.reply != NULL) {
        verdict->reply = ev.reply;
        ev.reply = NULL;
        verdict->disconnect =
            strncmp(verdict->reply, "421", 3) == 0 || strncmp(verdict->reply, "521", 3) == 0;
    }
    /* Passes (rules_dns.h): a pending lookup leaves no trace of this one. */
    if (ev.dns_pending) {
        eval_explain(&ev, "DNS answers pending: no decision yet, the check runs again");
        *tx = saved_tx;
        rules_verdict_free(verdict);
        verdict->dns_pending = 1;
    }
    free(ev.reply);
    free(ev.namaddr);
    free(ev.defer_if_permit.reason);
    free(ev.defer_if_reject.reason);
}
