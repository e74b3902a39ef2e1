/*
 * mime_rules.c - MIME rules Postfix cannot do (see mime_rules.h): the
 * parameters, loading, and the verdict for one message. The action
 * dispatcher is in mime_act.c, the GMime walk in mime_walk.c.
 *
 * Parameters (postconf(5) style):
 *  attachment_name_checks = (empty)   tables for decoded file names
 *  attachment_type_checks = (empty)   tables for "type/subtype"
 *  decoded_body_checks = (empty)      tables for decoded text lines
 *  mime_parts_limit = 1000            MIME objects (parts, multiparts,
 *                                     attached messages) per message
 *  decoded_body_size_limit = 1048576  decoded text bytes inspected per
 *                                     message (0: none)
 *  strict_mime_checks = no            yes: a message GMime cannot make
 *                                     sense of gets 550 5.6.0
 *  ambiguous_mime_action = dunno      dunno | warn | hold | defer
 * and, read through the same source but listed by content.c (Postfix's
 * names): mime_nesting_limit (100), line_length_limit (2048, the daemon's).
 *
 * Policy for the verdict, decided here (in this order):
 *  1. A REJECT from a table gives the reply (550, or 451 for a 4.X.Y text).
 *  2. A DISCARD accepts the message for nobody: nothing below applies.
 *  3. A broken limit: "550 5.6.0 MIME part count exceeds safety limit" or
 *     "550 5.6.0 MIME nesting exceeds safety limit" (Postfix's text).
 *  4. strict_mime_checks = yes and a malformed message:
 *     "550 5.6.0 Message is not valid MIME" (what was wrong goes to a note
 *     and to --explain, not to the sender).
 *  5. A lookup error: "451 4.3.0 Temporary lookup failure".
 *  6. Ambiguous MIME: dunno logs it (an "info" note), warn logs it as a
 *     warning, hold holds the message, defer replies "451 4.6.0 Ambiguous
 *     MIME structure" (Postfix retries until its queue lifetime ends and
 *     then bounces: only for sites that would rather lose such mail).
 * Without strict_mime_checks a malformed message is relayed unchanged,
 * with an "info" note.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "rules/mime_internal.h"
#include "rules/mime_rules.h"
#include "rules/rules_internal.h"
#include "util/xalloc.h"

const struct rules_param mime_rules_params[] = {
    {"attachment_name_checks", ""},
    {"attachment_type_checks", ""},
    {"decoded_body_checks", ""},
    {"mime_parts_limit", "1000"},
    {"decoded_body_size_limit", "1048576"},
    {"strict_mime_checks", "no"},
    {"ambiguous_mime_action", "dunno"},
    {NULL, NULL},
};

/* Listed by content.c (and the daemon); read here with their defaults. */
#define MIME_NESTING_LIMIT "mime_nesting_limit"
#define MIME_NESTING_DEFAULT "100"
#define MIME_LINE_LENGTH_LIMIT "line_length_limit"
#define MIME_LINE_LENGTH_DEFAULT "2048"

static const char *const mime_check_params[MIME_CHECK_COUNT] = {
    "attachment_name_checks",
    "attachment_type_checks",
    "decoded_body_checks",
};

void mime_rules_process_init(void)
{
    /* GMime keeps per-process state; one init per process is enough, and a
     * second g_mime_init() would only count up. */
    static int done;

    if (!done) {
        g_mime_init();
        done = 1;
    }
}

/* ---- loading ---- */

static const char *mime_get(const struct rules_source *source, const char *name)
{
    const char *value = source->get(source->ctx, name);

    if (value != NULL)
        return value;
    for (const struct rules_param *p = mime_rules_params; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->default_value;
    if (strcmp(name, MIME_NESTING_LIMIT) == 0)
        return MIME_NESTING_DEFAULT;
    if (strcmp(name, MIME_LINE_LENGTH_LIMIT) == 0)
        return MIME_LINE_LENGTH_DEFAULT;
    return NULL;
}

static int mime_size(const struct rules_source *source, const char *name, size_t min, size_t *value,
                     char *err, size_t errlen)
{
    return checks_size(source, name, mime_get(source, name), min, value, err, errlen);
}

static int mime_bool(const struct rules_source *source, const char *name, int *value, char *err,
                     size_t errlen)
{
    return checks_bool(source, name, mime_get(source, name), value, err, errlen);
}

static int mime_ambiguous_param(const struct rules_source *source,
                                enum mime_ambiguous_action *action, char *err, size_t errlen)
{
    static const char *const names[] = {"dunno", "warn", "hold", "defer"};
    const char *name = "ambiguous_mime_action";
    const char *text = mime_get(source, name);
    char where[512];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (text != NULL && strcasecmp(text, names[i]) == 0) {
            *action = (enum mime_ambiguous_action)i;
            return 0;
        }
    }
    checks_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad %s value: %s (need dunno, warn, hold or defer)", where, name,
             text != NULL ? text : "");
    return -1;
}

static int mime_load_limits(struct mime_rules *rules, const struct rules_source *source, char *err,
                            size_t errlen)
{
    if (mime_size(source, "mime_parts_limit", 1, &rules->parts_limit, err, errlen) < 0 ||
        mime_size(source, MIME_NESTING_LIMIT, 0, &rules->nesting_limit, err, errlen) < 0 ||
        mime_size(source, "decoded_body_size_limit", 0, &rules->decoded_limit, err, errlen) < 0 ||
        mime_size(source, MIME_LINE_LENGTH_LIMIT, 1, &rules->line_limit, err, errlen) < 0 ||
        mime_bool(source, "strict_mime_checks", &rules->strict, err, errlen) < 0 ||
        mime_ambiguous_param(source, &rules->ambiguous, err, errlen) < 0)
        return -1;
    return 0;
}

struct mime_rules *mime_rules_load(const struct rules_source *source, char *err, size_t errlen)
{
    struct mime_rules *rules = xcalloc(1, sizeof(*rules));

    for (int i = 0; i < MIME_CHECK_COUNT; i++) {
        if (checks_load_list(&rules->set, &rules->checks[i], source, mime_check_params[i],
                             mime_get(source, mime_check_params[i]), err, errlen) < 0) {
            mime_rules_free(rules);
            return NULL;
        }
    }
    if (mime_load_limits(rules, source, err, errlen) < 0) {
        mime_rules_free(rules);
        return NULL;
    }
    return rules;
}

void mime_rules_free(struct mime_rules *rules)
{
    if (rules == NULL)
        return;
    for (int i = 0; i < MIME_CHECK_COUNT; i++)
        free(rules->checks[i].tables);
    checks_tables_free(&rules->set);
    free(rules);
}

/* Nothing to do: no table, and neither strict checks nor an ambiguity
 * action that changes the outcome (dunno only logs). */
int mime_rules_empty(const struct mime_rules *rules)
{
    for (int i = 0; i < MIME_CHECK_COUNT; i++)
        if (rules->checks[i].count > 0)
            return 0;
    return !rules->strict && rules->ambiguous == MIME_AMBIGUOUS_DUNNO;
}

int mime_rules_changed(const struct mime_rules *rules)
{
    return checks_tables_changed(&rules->set);
}

/* ---- one message ---- */

static void mime_add_note(struct rules_verdict *v, const char *kind, const char *fmt,
                          const char *arg)
{
    char *text = xasprintf(fmt, arg);

    rules_printable(text);
    v->notes = xrealloc(v->notes, (v->note_count + 1) * sizeof(*v->notes));
    v->notes[v->note_count].kind = xstrdup(kind);
    v->notes[v->note_count].text = text;
    v->note_count++;
}

static void mime_finish_ambiguous(struct mime_run *run)
{
    struct rules_verdict *v = run->verdict;
    const char *what = run->ambiguous;

    switch (run->rules->ambiguous) {
    case MIME_AMBIGUOUS_DUNNO:
        mime_add_note(v, "info", "ambiguous MIME: %s", what);
        mime_explain(run, 1, "ambiguous MIME (%s): ambiguous_mime_action = dunno, logged", what);
        break;
    case MIME_AMBIGUOUS_WARN:
        mime_add_note(v, "warn", "ambiguous MIME: %s", what);
        mime_explain(run, 1, "ambiguous MIME (%s): ambiguous_mime_action = warn, logged", what);
        break;
    case MIME_AMBIGUOUS_HOLD:
        if (!run->held) {
            free(v->hold);
            v->hold = xasprintf("ambiguous MIME: %s", what);
            rules_printable(v->hold);
            mime_add_note(v, "hold", "ambiguous MIME: %s", what);
            run->held = 1;
        }
        mime_explain(run, 1, "ambiguous MIME (%s): ambiguous_mime_action = hold, message held",
                     what);
        break;
    case MIME_AMBIGUOUS_DEFER:
        if (v->reply == NULL)
            v->reply = xstrdup("451 4.6.0 Ambiguous MIME structure");
        mime_add_note(v, "info", "ambiguous MIME: %s", what);
        mime_explain(run, 1, "ambiguous MIME (%s): ambiguous_mime_action = defer", what);
        break;
    }
}

static void mime_finish(struct mime_run *run)
{
    struct rules_verdict *v = run->verdict;

    if (run->reason != NULL) {
        v->reply = checks_reject_reply(run->reason);
    } else if (!run->discarded) {
        if (run->limit_reply != NULL) {
            v->reply = xstrdup(run->limit_reply);
        } else if (run->malformed != NULL && run->rules->strict) {
            v->reply = xstrdup("550 5.6.0 Message is not valid MIME");
            mime_explain(run, 1, "malformed MIME (%s): strict_mime_checks = yes", run->malformed);
        } else if (run->lookup_failed) {
            v->reply = xstrdup("451 4.3.0 Temporary lookup failure");
        }
    }
    if (run->malformed != NULL && !run->rules->strict) {
        mime_add_note(v, "info", "malformed MIME, relayed as received: %s", run->malformed);
        mime_explain(run, 1, "malformed MIME (%s): relayed as received (strict_mime_checks = no)",
                     run->malformed);
    }
    if (run->ambiguous != NULL && !run->discarded)
        mime_finish_ambiguous(run);
    mime_explain(run, 0,
                 "MIME rules: %zu part(s), %zu file name(s), %zu decoded line(s) looked up; %s%s%s",
                 run->parts, run->names, run->decoded_lines, v->reply ? "reply " : "",
                 v->reply         ? v->reply
                 : run->discarded ? "accepted, to be discarded"
                                  : "accepted",
                 v->hold && !v->reply ? " (held)" : "");
}

void mime_rules_check(struct mime_rules *rules, const char *data, size_t len,
                      struct rules_verdict *verdict, const struct rules_explain *explain)
{
    struct mime_run run;

    memset(verdict, 0, sizeof(*verdict));
    if (mime_rules_empty(rules))
        return;
    memset(&run, 0, sizeof(run));
    run.rules = rules;
    run.verdict = verdict;
    run.explain = explain;
    mime_walk(&run, data, len);
    mime_finish(&run);
    free(run.reason);
    free(run.limit_reply);
    free(run.malformed);
    free(run.ambiguous);
    free(run.path);
    free(run.line);
}
