/*
 * mime_act.c - the one action dispatcher of the MIME rules, with
 * header_checks(5)'s vocabulary, and the --explain lines (see mime_rules.h).
 *
 * Policy:
 *  - Per input (a file name, a content type, a decoded line) the tables of
 *    the parameter are searched in order; the first matching entry decides.
 *  - REJECT [text]: "550 5.7.1 text" (default text "message content
 *    rejected"); a text that starts with a D.S.N code sets the reply:
 *    4.X.Y gives 451, 5.X.Y gives 550; any other class is made 4 with a
 *    warning, as content.c does. REJECT, DISCARD, REDIRECT and PASS end
 *    inspection. HOLD (the first one counts), FILTER (the last one wins),
 *    BCC, WARN and INFO do not.
 *  - IGNORE, STRIP, PREPEND and REPLACE edit a header or a body line in
 *    header_checks; there is no such line here (a file name is a parameter,
 *    a decoded line is not what is relayed), so they are logged as a
 *    warning, once per table entry, and have no effect. So has any unknown
 *    or malformed action (as Postfix does with header_checks).
 *  - A lookup error (a regex hitting its match limit) makes the message
 *    "451 4.3.0 Temporary lookup failure" unless something rejects it
 *    anyway; inspection goes on.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

#include "rules/mime_internal.h"
#include "rules/rules_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

void mime_explain(struct mime_run *run, int depth, const char *fmt, ...)
{
    char text[2048];
    va_list ap;

    if (run->explain == NULL || run->explain->line == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    run->explain->line(run->explain->ctx, depth, text);
}

void mime_sanitize(char *text, size_t len)
{
    const gchar *end;
    size_t bad;

    /* Each round replaces at least one byte: at most len rounds. */
    while (!g_utf8_validate(text, (gssize)len, &end)) {
        bad = (size_t)(end - text);
        if (bad >= len)
            break;
        text[bad] = '?';
    }
}

/* Shown in --explain and notes: control characters escaped, cut long. */
static void mime_show(const char *input, char *buf, size_t len)
{
    size_t used = 0;

    for (const char *cp = input; *cp && used + 8 < len; cp++) {
        unsigned char c = (unsigned char)*cp;
        if (c < 0x20 || c == 0x7f)
            used += (size_t)snprintf(buf + used, len - used, "\\x%02x", c);
        else
            buf[used++] = (char)c;
        if (cp[1] != '\0' && used + 8 >= len) {
            memcpy(buf + used, "...", 3);
            used += 3;
            break;
        }
    }
    buf[used] = '\0';
}

/* The table line that matched, read again from its file (--explain only):
 * where is "FILE, line N". Empty when it cannot be read. */
static void mime_rule_source(const char *where, char *buf, size_t len)
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
            mime_show(line, buf, len);
            break;
        }
    }
    free(line);
    fclose(fp);
}

static void mime_warn_once(struct mime_run *run, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mime_warn_once(struct mime_run *run, const char *where, const char *fmt, ...)
{
    struct mime_rules *rules = run->rules;
    char text[1024];
    char *line;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    mime_explain(run, 2, "warning: %s", text);
    line = xasprintf("%s: %s", where, text);
    for (size_t i = 0; i < rules->warned_count; i++) {
        if (strcmp(rules->warned[i], line) == 0) {
            free(line);
            return;
        }
    }
    msg_warn("%s", line);
    rules->warned = xrealloc(rules->warned, (rules->warned_count + 1) * sizeof(*rules->warned));
    rules->warned[rules->warned_count++] = line;
}

/* A log line for the daemon: "part 1.2 file name x.exe: text". */
static void mime_note(struct mime_run *run, const char *kind, const char *what, const char *input,
                      const char *text)
{
    struct rules_verdict *v = run->verdict;
    char shown[256];
    char *note;

    mime_show(input, shown, sizeof(shown));
    note = xasprintf("part %s %s %s%s%s", run->path_len ? run->path : "0", what, shown,
                     *text ? ": " : "", text);
    rules_printable(note);
    v->notes = xrealloc(v->notes, (v->note_count + 1) * sizeof(*v->notes));
    v->notes[v->note_count].kind = xstrdup(kind);
    v->notes[v->note_count].text = note;
    v->note_count++;
}

static int mime_is(const char *value, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(value, word, len) == 0;
}

static void mime_reject(struct mime_run *run, const char *text, const char *where)
{
    char dsn[16];
    const char *msg;

    if (*text == '\0')
        text = "5.7.1 message content rejected";
    msg = rules_dsn_split(text, "5.7.1", dsn, sizeof(dsn));
    free(run->reason);
    run->reason = xasprintf("%s %s", dsn, msg);
    if (run->reason[0] != '4' && run->reason[0] != '5') {
        mime_warn_once(run, where, "bad DSN action in %s -- need 4.x.x or 5.x.x", text);
        run->reason[0] = '4';
    }
}

static void mime_act_filter(struct mime_run *run, const char *param, const char *where,
                            const char *what_in, const char *input, const char *text, char *what,
                            size_t wlen)
{
    struct rules_verdict *v = run->verdict;

    if (*text == '\0' || strchr(text, ':') == NULL) {
        if (*text == '\0')
            mime_warn_once(run, where, "missing FILTER command argument in %s map", param);
        else
            mime_warn_once(run, where, "bad FILTER command %s in %s -- need transport:destination",
                           text, param);
        snprintf(what, wlen, "malformed FILTER: no effect");
        return;
    }
    free(v->filter);
    v->filter = xstrdup(text);
    mime_note(run, "filter", what_in, input, text);
    snprintf(what, wlen, "message goes to content filter %s (the last FILTER wins)", text);
}

static void mime_act_address(struct mime_run *run, int bcc, const char *param, const char *where,
                             const char *what_in, const char *input, const char *text, char *what,
                             size_t wlen)
{
    struct rules_verdict *v = run->verdict;

    if (strchr(text, '@') == NULL) {
        mime_warn_once(run, where, "bad %s %s \"%s\" in %s map -- need user@domain",
                       bcc ? "BCC" : "REDIRECT", bcc ? "address" : "target", text, param);
        snprintf(what, wlen, "malformed %s: no effect", bcc ? "BCC" : "REDIRECT");
    } else if (bcc) {
        v->bcc = xrealloc(v->bcc, (v->bcc_count + 1) * sizeof(*v->bcc));
        v->bcc[v->bcc_count++] = xstrdup(text);
        mime_note(run, "bcc", what_in, input, text);
        snprintf(what, wlen, "BCC recipient %s added", text);
    } else {
        free(v->redirect);
        v->redirect = xstrdup(text);
        mime_note(run, "redirect", what_in, input, text);
        run->stop = 1;
        snprintf(what, wlen, "all recipients replaced by %s; inspection stops", text);
    }
}

/* The dispatcher (Postfix's cleanup_act(), for the MIME rules). */
static void mime_act(struct mime_run *run, const char *param, const char *what_in,
                     const char *input, const struct table_result *r, char *what, size_t wlen)
{
    const char *value = r->value;
    const char *where = r->where != NULL ? r->where : param;
    size_t cmd_len = strcspn(value, " \t");
    const char *text = value + cmd_len;
    struct rules_verdict *v = run->verdict;

    while (isspace((unsigned char)*text))
        text++;

    if (mime_is(value, cmd_len, "REJECT")) {
        mime_reject(run, text, where);
        run->stop = 1;
        snprintf(what, wlen, "message rejected: %s %s; inspection stops",
                 run->reason[0] == '4' ? "451" : "550", run->reason);
    } else if (mime_is(value, cmd_len, "WARN") || mime_is(value, cmd_len, "INFO")) {
        int warn = mime_is(value, cmd_len, "WARN");
        mime_note(run, warn ? "warn" : "info", what_in, input, text);
        snprintf(what, wlen, "logged as %s", warn ? "warning" : "info");
    } else if (mime_is(value, cmd_len, "FILTER")) {
        mime_act_filter(run, param, where, what_in, input, text, what, wlen);
    } else if (mime_is(value, cmd_len, "PASS")) {
        mime_note(run, "pass", what_in, input, text);
        run->stop = 1;
        snprintf(what, wlen, "no further MIME inspection");
    } else if (mime_is(value, cmd_len, "DISCARD")) {
        mime_note(run, "discard", what_in, input, text);
        run->discarded = 1;
        free(v->discard);
        v->discard = xstrdup(text);
        run->stop = 1;
        snprintf(what, wlen, "message accepted and discarded; inspection stops");
    } else if (mime_is(value, cmd_len, "HOLD")) {
        if (!run->held && !run->discarded) {
            mime_note(run, "hold", what_in, input, text);
            run->held = 1;
            free(v->hold);
            v->hold = xstrdup(text);
            snprintf(what, wlen, "message goes to the hold queue; inspection goes on");
        } else {
            snprintf(what, wlen, "already held: nothing more");
        }
    } else if (mime_is(value, cmd_len, "REDIRECT") || mime_is(value, cmd_len, "BCC")) {
        mime_act_address(run, mime_is(value, cmd_len, "BCC"), param, where, what_in, input, text,
                         what, wlen);
    } else if (mime_is(value, cmd_len, "IGNORE") || mime_is(value, cmd_len, "STRIP") ||
               mime_is(value, cmd_len, "PREPEND") || mime_is(value, cmd_len, "REPLACE")) {
        mime_warn_once(run, where, "%.*s has no effect in %s: it edits no line of the message",
                       (int)cmd_len, value, param);
        snprintf(what, wlen, "%.*s: no effect here", (int)cmd_len, value);
    } else if (mime_is(value, cmd_len, "DUNNO") || mime_is(value, cmd_len, "OK")) {
        snprintf(what, wlen, "no action for this %s", what_in);
    } else {
        mime_warn_once(run, where, "unknown command in %s map: %s", param, value);
        snprintf(what, wlen, "unknown command: no effect");
    }
}

/* Postfix's maps_find(): the tables in order, the first answer wins. */
static int mime_lookup(struct mime_run *run, const struct mime_check *check, const char *key,
                       struct table_result *r)
{
    for (size_t i = 0; i < check->count; i++) {
        int status = table_lookup(check->tables[i], key, r);
        if (status == 0)
            continue;
        if (status < 0) {
            msg_warn("%s map lookup problem -- message not accepted, try again later: %s",
                     check->param, r->value != NULL ? r->value : table_spec(check->tables[i]));
            mime_explain(run, 2, "%s %s: lookup error: %s", check->param,
                         table_spec(check->tables[i]), r->value ? r->value : "");
            run->lookup_failed = 1;
            table_result_free(r);
        }
        return status;
    }
    return 0;
}

void mime_inspect(struct mime_run *run, enum mime_check_kind kind, const char *what_in,
                  const char *key)
{
    const struct mime_check *check = &run->rules->checks[kind];
    struct table_result r;
    char what[512];
    char rule[300];
    char shown[300];

    if (run->stop || check->count == 0)
        return;
    if (mime_lookup(run, check, key, &r) <= 0)
        return;
    mime_act(run, check->param, what_in, key, &r, what, sizeof(what));
    if (run->explain != NULL) {
        mime_rule_source(r.where, rule, sizeof(rule));
        mime_show(key, shown, sizeof(shown));
        mime_explain(run, 2, "%s %s%s%s%s: part %s %s \"%s\" -> %s", check->param,
                     r.where ? r.where : "", *rule ? " \"" : "", rule, *rule ? "\"" : "",
                     run->path_len ? run->path : "0", what_in, shown, r.value);
        mime_explain(run, 3, "%s", what);
    }
    table_result_free(&r);
}
