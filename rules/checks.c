/*
 * checks.c - what the header_checks(5)-style checks share (see checks.h):
 * loading a parameter's tables, the lookup, the --explain helpers and the
 * action dispatcher for the vocabulary every input shares.
 *
 * Policy, as Postfix's cleanup_act() (postfix-semantics.md section 8):
 *  - REJECT [text] makes the reason "D.S.N text" (default "5.7.1 message
 *    content rejected"); a D.S.N of another class than 4 or 5 is made 4
 *    with a warning. The reply is 451 for a 4.X.Y reason, 550 otherwise.
 *  - REJECT, DISCARD, REDIRECT and PASS end inspection; HOLD (the first one
 *    counts), FILTER (the last one wins), BCC, WARN and INFO do not.
 *  - A malformed or unknown action has no effect and is logged once per
 *    table entry, with the table line, instead of at every message.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/checks.h"
#include "rules/rules_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

/* ---- loading ---- */

void checks_where(const struct rules_source *source, const char *name, char *buf, size_t len)
{
    buf[0] = '\0';
    if (source->where != NULL)
        source->where(source->ctx, name, buf, len);
    if (buf[0] == '\0')
        snprintf(buf, len, "parameter %s", name);
}

int checks_size(const struct rules_source *source, const char *name, const char *text, size_t min,
                size_t *value, char *err, size_t errlen)
{
    char where[512];
    char *end;
    unsigned long long n;

    if (text != NULL && *text != '\0' && strspn(text, "0123456789") == strlen(text)) {
        n = strtoull(text, &end, 10);
        if (*end == '\0' && n >= min && n <= (unsigned long long)((size_t)-1 / 4)) {
            *value = (size_t)n;
            return 0;
        }
    }
    checks_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad numerical configuration: %s = %s", where, name,
             text != NULL ? text : "");
    return -1;
}

int checks_bool(const struct rules_source *source, const char *name, const char *text, int *value,
                char *err, size_t errlen)
{
    char where[512];

    if (text == NULL || strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0) {
        *value = 0;
        return 0;
    }
    if (strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0) {
        *value = 1;
        return 0;
    }
    checks_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad boolean configuration: %s = %s", where, name, text);
    return -1;
}

static struct table *checks_open(struct checks_tables *set, const char *spec, char *err,
                                 size_t errlen)
{
    struct table *table;

    for (size_t i = 0; i < set->opened_count; i++)
        if (strcmp(table_spec(set->opened[i]), spec) == 0)
            return set->opened[i];
    if ((table = table_open(spec, err, errlen)) == NULL)
        return NULL;
    set->opened = xrealloc(set->opened, (set->opened_count + 1) * sizeof(*set->opened));
    set->opened[set->opened_count++] = table;
    return table;
}

int checks_load_list(struct checks_tables *set, struct checks_list *list,
                     const struct rules_source *source, const char *param, const char *value,
                     char *err, size_t errlen)
{
    char where[512];
    char terr[1024];
    size_t count;
    char **words;
    int rc = 0;

    list->param = param;
    words = rules_split(value != NULL ? value : "", &count);
    list->tables = xcalloc(count + 1, sizeof(*list->tables));
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct table *table = NULL;
        terr[0] = '\0';
        if (strchr(words[i], ':') == NULL)
            snprintf(terr, sizeof(terr), "bad table \"%s\": need type:name", words[i]);
        else
            table = checks_open(set, words[i], terr, sizeof(terr));
        if (table == NULL) {
            checks_where(source, param, where, sizeof(where));
            snprintf(err, errlen, "%s: parameter %s: %s", where, param, terr);
            rc = -1;
        } else {
            list->tables[list->count++] = table;
        }
    }
    rules_split_free(words, count);
    return rc;
}

void checks_tables_free(struct checks_tables *set)
{
    for (size_t i = 0; i < set->opened_count; i++)
        table_free(set->opened[i]);
    free(set->opened);
    for (size_t i = 0; i < set->warned_count; i++)
        free(set->warned[i]);
    free(set->warned);
}

int checks_tables_changed(const struct checks_tables *set)
{
    for (size_t i = 0; i < set->opened_count; i++)
        if (table_changed(set->opened[i]))
            return 1;
    return 0;
}

/* ---- one message ---- */

void checks_vexplain(const struct rules_explain *explain, int depth, const char *fmt, va_list ap)
{
    char text[2048];

    if (explain == NULL || explain->line == NULL)
        return;
    vsnprintf(text, sizeof(text), fmt, ap);
    explain->line(explain->ctx, depth, text);
}

void checks_explain(const struct rules_explain *explain, int depth, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    checks_vexplain(explain, depth, fmt, ap);
    va_end(ap);
}

void checks_warn_once(struct checks_tables *set, const struct rules_explain *explain,
                      const char *where, const char *fmt, ...)
{
    char text[1024];
    char *line;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    checks_explain(explain, 2, "warning: %s", text);
    line = xasprintf("%s: %s", where, text);
    for (size_t i = 0; i < set->warned_count; i++) {
        if (strcmp(set->warned[i], line) == 0) {
            free(line);
            return;
        }
    }
    msg_warn("%s", line);
    set->warned = xrealloc(set->warned, (set->warned_count + 1) * sizeof(*set->warned));
    set->warned[set->warned_count++] = line;
}

int checks_lookup(const struct checks_list *list, const char *key, struct table_result *r,
                  const struct rules_explain *explain, int depth, int *lookup_failed)
{
    for (size_t i = 0; i < list->count; i++) {
        int status = table_lookup(list->tables[i], key, r);
        if (status == 0)
            continue;
        if (status < 0) {
            msg_warn("%s map lookup problem -- message not accepted, try again later: %s",
                     list->param, r->value != NULL ? r->value : table_spec(list->tables[i]));
            checks_explain(explain, depth, "%s %s: lookup error: %s", list->param,
                           table_spec(list->tables[i]), r->value ? r->value : "");
            *lookup_failed = 1;
            table_result_free(r);
        }
        return status;
    }
    return 0;
}

void checks_show(const char *input, int named, char *buf, size_t len)
{
    size_t used = 0;

    for (const char *cp = input; *cp && used + 8 < len; cp++) {
        unsigned char c = (unsigned char)*cp;
        if (named && (c == '\n' || c == '\t')) {
            buf[used++] = '\\';
            buf[used++] = c == '\n' ? 'n' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            used += (size_t)snprintf(buf + used, len - used, "\\x%02x", c);
        } else {
            buf[used++] = (char)c;
        }
        if (cp[1] != '\0' && used + 8 >= len) {
            memcpy(buf + used, "...", 3);
            used += 3;
            break;
        }
    }
    buf[used] = '\0';
}

void checks_rule_source(const char *where, int named, char *buf, size_t len)
{
    const char *mark = where != NULL ? strstr(where, ", line ") : NULL;
    char *path;
    char *line = NULL;
    size_t cap = 0;
    long want;
    FILE *fp;

    buf[0] = '\0';
    if (mark == NULL || (want = strtol(mark + 7, NULL, 10)) <= 0)
        return;
    path = xstrndup(where, (size_t)(mark - where));
    fp = fopen(path, "r");
    free(path);
    if (fp == NULL)
        return;
    for (long n = 1; getline(&line, &cap, fp) >= 0; n++) {
        if (n == want) {
            line[strcspn(line, "\r\n")] = '\0';
            checks_show(line, named, buf, len);
            break;
        }
    }
    free(line);
    fclose(fp);
}

char *checks_reject_reply(const char *reason)
{
    return xasprintf("%d %s", reason[0] == '4' ? 451 : 550, reason);
}

int checks_is(const char *value, size_t cmd_len, const char *word)
{
    return strlen(word) == cmd_len && strncasecmp(value, word, cmd_len) == 0;
}

void checks_note(struct rules_verdict *v, const char *kind, const char *subject, const char *text)
{
    char *note = xasprintf("%s%s%s", subject, *text ? ": " : "", text);

    rules_printable(note);
    v->notes = xrealloc(v->notes, (v->note_count + 1) * sizeof(*v->notes));
    v->notes[v->note_count].kind = xstrdup(kind);
    v->notes[v->note_count].text = note;
    v->note_count++;
}

static void checks_act_reject(const struct checks_act *a, const char *text, char *what, size_t wlen)
{
    char dsn[16];
    const char *msg;
    char *reason;

    if (*text == '\0')
        text = "5.7.1 message content rejected";
    msg = rules_dsn_split(text, "5.7.1", dsn, sizeof(dsn));
    reason = xasprintf("%s %s", dsn, msg);
    if (reason[0] != '4' && reason[0] != '5') {
        checks_warn_once(a->set, a->explain, a->where,
                         "bad DSN action in %s -- need 4.x.x or 5.x.x", text);
        reason[0] = '4';
    }
    free(*a->reason);
    *a->reason = reason;
    *a->stop = 1;
    snprintf(what, wlen, "message rejected: %s %s; inspection stops",
             reason[0] == '4' ? "451" : "550", reason);
}

static void checks_act_filter(const struct checks_act *a, const char *text, char *what, size_t wlen)
{
    struct rules_verdict *v = a->verdict;

    if (*text == '\0' || strchr(text, ':') == NULL) {
        if (*text == '\0')
            checks_warn_once(a->set, a->explain, a->where,
                             "missing FILTER command argument in %s map", a->param);
        else
            checks_warn_once(a->set, a->explain, a->where,
                             "bad FILTER command %s in %s -- need transport:destination", text,
                             a->param);
        snprintf(what, wlen, "malformed FILTER: no effect");
        return;
    }
    free(v->filter);
    v->filter = xstrdup(text);
    checks_note(v, "filter", a->subject, text);
    snprintf(what, wlen, "message goes to content filter %s (the last FILTER wins)", text);
}

static void checks_act_address(const struct checks_act *a, int bcc, const char *text, char *what,
                               size_t wlen)
{
    struct rules_verdict *v = a->verdict;

    if (strchr(text, '@') == NULL) {
        checks_warn_once(a->set, a->explain, a->where,
                         "bad %s %s \"%s\" in %s map -- need user@domain", bcc ? "BCC" : "REDIRECT",
                         bcc ? "address" : "target", text, a->param);
        snprintf(what, wlen, "malformed %s: no effect", bcc ? "BCC" : "REDIRECT");
    } else if (bcc) {
        v->bcc = xrealloc(v->bcc, (v->bcc_count + 1) * sizeof(*v->bcc));
        v->bcc[v->bcc_count++] = xstrdup(text);
        checks_note(v, "bcc", a->subject, text);
        snprintf(what, wlen, "BCC recipient %s added", text);
    } else {
        free(v->redirect);
        v->redirect = xstrdup(text);
        checks_note(v, "redirect", a->subject, text);
        *a->stop = 1;
        snprintf(what, wlen, "all recipients replaced by %s; inspection stops", text);
    }
}

static void checks_act_hold(const struct checks_act *a, const char *text, char *what, size_t wlen)
{
    struct rules_verdict *v = a->verdict;

    if (*a->held || *a->discarded) {
        snprintf(what, wlen, "already %s: nothing more", *a->held ? "held" : "discarded");
        return;
    }
    checks_note(v, "hold", a->subject, text);
    *a->held = 1;
    free(v->hold);
    v->hold = xstrdup(text);
    snprintf(what, wlen, "message goes to the hold queue; inspection goes on");
}

void checks_act(const struct checks_act *a, const char *value, char *what, size_t wlen)
{
    size_t cmd_len = strcspn(value, " \t");
    const char *text = value + cmd_len;
    struct rules_verdict *v = a->verdict;

    while (isspace((unsigned char)*text))
        text++;

    if (checks_is(value, cmd_len, "REJECT")) {
        checks_act_reject(a, text, what, wlen);
    } else if (checks_is(value, cmd_len, "WARN") || checks_is(value, cmd_len, "INFO")) {
        int warn = checks_is(value, cmd_len, "WARN");
        checks_note(v, warn ? "warn" : "info", a->subject, text);
        snprintf(what, wlen, "logged as %s", warn ? "warning" : "info");
    } else if (checks_is(value, cmd_len, "FILTER")) {
        checks_act_filter(a, text, what, wlen);
    } else if (checks_is(value, cmd_len, "PASS")) {
        checks_note(v, "pass", a->subject, text);
        *a->stop = 1;
        snprintf(what, wlen, "no further %s inspection", a->scope);
    } else if (checks_is(value, cmd_len, "DISCARD")) {
        checks_note(v, "discard", a->subject, text);
        *a->discarded = 1;
        free(v->discard);
        v->discard = xstrdup(text);
        *a->stop = 1;
        snprintf(what, wlen, "message accepted and discarded; inspection stops");
    } else if (checks_is(value, cmd_len, "HOLD")) {
        checks_act_hold(a, text, what, wlen);
    } else if (checks_is(value, cmd_len, "REDIRECT") || checks_is(value, cmd_len, "BCC")) {
        checks_act_address(a, checks_is(value, cmd_len, "BCC"), text, what, wlen);
    } else if (checks_is(value, cmd_len, "DUNNO") || checks_is(value, cmd_len, "OK")) {
        snprintf(what, wlen, "no action for this %s", a->input);
    } else {
        checks_warn_once(a->set, a->explain, a->where, "unknown command in %s map: %s", a->param,
                         value);
        snprintf(what, wlen, "unknown command: no effect");
    }
}
