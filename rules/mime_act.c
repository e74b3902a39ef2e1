/*
 * mime_act.c - the one action dispatcher of the MIME rules, with
 * header_checks(5)'s vocabulary (what it shares with content.c is
 * checks_act() in checks.c), and the --explain lines (see mime_rules.h).
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "rules/mime_internal.h"
#include "util/xalloc.h"

void mime_explain(struct mime_run *run, int depth, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    checks_vexplain(run->explain, depth, fmt, ap);
    va_end(ap);
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

/* The dispatcher (Postfix's cleanup_act(), for the MIME rules): the edits
 * have nothing to edit here, the rest is checks_act(). */
static void mime_act(struct mime_run *run, const char *param, const char *what_in,
                     const char *input, const struct table_result *r, char *what, size_t wlen)
{
    static const char *const edits[] = {"IGNORE", "STRIP", "PREPEND", "REPLACE"};
    const char *value = r->value;
    const char *where = r->where != NULL ? r->where : param;
    size_t cmd_len = strcspn(value, " \t");
    char shown[256];
    char *subject;

    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        if (checks_is(value, cmd_len, edits[i])) {
            checks_warn_once(&run->rules->set, run->explain, where,
                             "%.*s has no effect in %s: it edits no line of the message",
                             (int)cmd_len, value, param);
            snprintf(what, wlen, "%.*s: no effect here", (int)cmd_len, value);
            return;
        }
    }
    checks_show(input, 0, shown, sizeof(shown));
    subject = xasprintf("part %s %s %s", run->path_len ? run->path : "0", what_in, shown);
    checks_act(&(struct checks_act){.set = &run->rules->set,
                                    .explain = run->explain,
                                    .verdict = run->verdict,
                                    .param = param,
                                    .where = where,
                                    .subject = subject,
                                    .scope = "MIME",
                                    .input = what_in,
                                    .reason = &run->reason,
                                    .stop = &run->stop,
                                    .held = &run->held,
                                    .discarded = &run->discarded},
               value, what, wlen);
    free(subject);
}

void mime_inspect(struct mime_run *run, enum mime_check_kind kind, const char *what_in,
                  const char *key)
{
    const struct checks_list *check = &run->rules->checks[kind];
    struct table_result r;
    char what[512];
    char rule[300];
    char shown[300];

    if (run->stop || check->count == 0)
        return;
    if (checks_lookup(check, key, &r, run->explain, 2, &run->lookup_failed) <= 0)
        return;
    mime_act(run, check->param, what_in, key, &r, what, sizeof(what));
    if (run->explain != NULL) {
        checks_rule_source(r.where, 0, rule, sizeof(rule));
        checks_show(key, 0, shown, sizeof(shown));
        mime_explain(run, 2, "%s %s%s%s%s: part %s %s \"%s\" -> %s", check->param,
                     r.where ? r.where : "", *rule ? " \"" : "", rule, *rule ? "\"" : "",
                     run->path_len ? run->path : "0", what_in, shown, r.value);
        mime_explain(run, 3, "%s", what);
    }
    table_result_free(&r);
}
