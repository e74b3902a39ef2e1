/*
 * content.c - Postfix's header_checks, mime_header_checks,
 * nested_header_checks and body_checks, after the queue (see content.h;
 * the MIME state machine that decides which table sees which input is in
 * content_mime.c).
 *
 * Policy, as Postfix's cleanup (header_checks(5), postfix-semantics.md
 * section 8), decided here:
 *
 *  - Per input (logical header or body record) the tables of the parameter
 *    are searched in order and the first matching entry decides; its
 *    action is one of Postfix's cleanup actions, dispatched in
 *    content_act() with Postfix's vocabulary and warnings.
 *  - REJECT, DISCARD, REDIRECT and PASS end inspection: no later input is
 *    looked up. HOLD, FILTER, BCC, WARN, INFO and the edits do not.
 *  - REJECT replies "550 <text>" (default "5.7.1 message content
 *    rejected"); a text that starts with a 4.X.Y code makes it "451 ...",
 *    as Postfix's smtpd answers a cleanup that deferred. A 2.X.Y code is
 *    made 4.X.Y with a warning, as Postfix does.
 *  - A lookup error (a regex that hits its match limit) makes the message
 *    fail with Postfix's reply "451 4.3.0 Error: queue file write error"
 *    unless something rejects it anyway; inspection goes on, as Postfix's.
 *  - MIME nesting deeper than mime_nesting_limit is reported only when a
 *    header table is set (Postfix's MIME_OPT_REPORT_NESTING) and rejects
 *    with "550 5.6.0 MIME nesting exceeds safety limit" unless a REJECT
 *    already gave the reason; found after a REDIRECT, it still rejects.
 *  - DISCARD wins over everything that could go wrong later (a nesting
 *    error, a lookup error): Postfix accepts and drops such a message.
 *  - Edits (IGNORE, STRIP, REPLACE, PREPEND) change only the bytes of the
 *    header (all its physical lines) or body record they act on; the rest
 *    of the message is copied as received, CR LF included. Postfix's own
 *    rewriting of the delivered copy ("Name : v" to "Name: v", truncated
 *    long headers) is left to the Postfix behind scand, which does it
 *    again anyway.
 *  - A malformed action (unknown command, PREPEND or REPLACE of a header
 *    with text that is no header, REDIRECT/BCC without @, FILTER without
 *    transport:destination) has no effect and is logged once per table
 *    entry, with the table line, instead of at every message.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/checks.h"
#include "rules/content.h"
#include "rules/content_internal.h"
#include "rules/rules_internal.h"
#include "rules/table.h"
#include "util/msg.h"
#include "util/xalloc.h"

const struct rules_param content_params[] = {
    {"header_checks", ""},
    {"mime_header_checks", "$header_checks"},
    {"nested_header_checks", "$header_checks"},
    {"body_checks", ""},
    {"header_size_limit", "102400"},
    {"body_checks_size_limit", "51200"},
    {"mime_nesting_limit", "100"},
    {"mime_boundary_length_limit", "2048"},
    {"disable_mime_input_processing", "no"},
    {NULL, NULL},
};

/* line_length_limit is the daemon's parameter (its SMTP line limit too);
 * read here through the same source. */
#define CONTENT_LINE_LENGTH_LIMIT "line_length_limit"
#define CONTENT_LINE_LENGTH_DEFAULT 2048

enum { CHECK_HEADER, CHECK_MIME, CHECK_NESTED, CHECK_BODY, CHECK_COUNT };

static const char *const check_params[CHECK_COUNT] = {
    "header_checks",
    "mime_header_checks",
    "nested_header_checks",
    "body_checks",
};

struct content_rules {
    struct checks_list checks[CHECK_COUNT];
    struct checks_tables set;
    struct content_mime_config mime;
    size_t body_checks_size_limit; /* 0: no limit */
};

/* ---- loading ---- */

static const char *content_default(const char *name)
{
    for (const struct rules_param *p = content_params; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->default_value;
    return NULL;
}

/* The value, with our default when the source has none ("$name" defaults
 * resolved once, which is all content_params uses). */
static const char *content_get(const struct rules_source *source, const char *name)
{
    const char *value = source->get(source->ctx, name);

    if (value == NULL && (value = content_default(name)) != NULL && value[0] == '$') {
        const char *other = source->get(source->ctx, value + 1);
        value = other != NULL ? other : content_default(value + 1);
    }
    return value;
}

static int content_size(const struct rules_source *source, const char *name, size_t min,
                        size_t *value, char *err, size_t errlen)
{
    return checks_size(source, name, content_get(source, name), min, value, err, errlen);
}

static int content_bool(const struct rules_source *source, const char *name, int *value, char *err,
                        size_t errlen)
{
    return checks_bool(source, name, content_get(source, name), value, err, errlen);
}

static int content_load_limits(struct content_rules *rules, const struct rules_source *source,
                               char *err, size_t errlen)
{
    struct content_mime_config *m = &rules->mime;
    const char *line = source->get(source->ctx, CONTENT_LINE_LENGTH_LIMIT);

    m->line_length_limit = CONTENT_LINE_LENGTH_DEFAULT;
    if (line != NULL &&
        content_size(source, CONTENT_LINE_LENGTH_LIMIT, 1, &m->line_length_limit, err, errlen) < 0)
        return -1;
    if (content_size(source, "header_size_limit", 1, &m->header_size_limit, err, errlen) < 0 ||
        content_size(source, "body_checks_size_limit", 0, &rules->body_checks_size_limit, err,
                     errlen) < 0 ||
        content_size(source, "mime_nesting_limit", 0, &m->nesting_limit, err, errlen) < 0 ||
        content_size(source, "mime_boundary_length_limit", 1, &m->boundary_length_limit, err,
                     errlen) < 0 ||
        content_bool(source, "disable_mime_input_processing", &m->disable_mime, err, errlen) < 0)
        return -1;
    return 0;
}

struct content_rules *content_rules_load(const struct rules_source *source, char *err,
                                         size_t errlen)
{
    struct content_rules *rules = xcalloc(1, sizeof(*rules));

    for (int i = 0; i < CHECK_COUNT; i++) {
        if (checks_load_list(&rules->set, &rules->checks[i], source, check_params[i],
                             content_get(source, check_params[i]), err, errlen) < 0) {
            content_rules_free(rules);
            return NULL;
        }
    }
    if (content_load_limits(rules, source, err, errlen) < 0) {
        content_rules_free(rules);
        return NULL;
    }
    /* Postfix reports MIME nesting errors only when a header table is set. */
    rules->mime.report_nesting = rules->checks[CHECK_HEADER].count > 0 ||
                                 rules->checks[CHECK_MIME].count > 0 ||
                                 rules->checks[CHECK_NESTED].count > 0;
    return rules;
}

void content_rules_free(struct content_rules *rules)
{
    if (rules == NULL)
        return;
    for (int i = 0; i < CHECK_COUNT; i++)
        free(rules->checks[i].tables);
    checks_tables_free(&rules->set);
    free(rules);
}

int content_rules_empty(const struct content_rules *rules)
{
    for (int i = 0; i < CHECK_COUNT; i++)
        if (rules->checks[i].count > 0)
            return 0;
    return 1;
}

int content_rules_changed(const struct content_rules *rules)
{
    return checks_tables_changed(&rules->set);
}

/* ---- one message ---- */

struct content_edit {
    size_t start;
    size_t end;
    char *text; /* inserted in place of [start, end) */
    size_t text_len;
};

struct content_run {
    struct content_rules *rules;
    const char *data;
    size_t len;
    struct rules_verdict *verdict;
    const struct rules_explain *explain;
    struct content_edit *edits;
    size_t edit_count;
    size_t edit_cap;
    char *key; /* body record, NUL-terminated; reused */
    size_t key_cap;
    char *reason; /* REJECT: "D.S.N text" */
    int inspect_off;
    int held;
    int discarded;
    int lookup_failed;
    int limit_noted; /* body_checks_size_limit reached in this segment, explained */
    size_t headers;
    size_t body_records;
};

static void content_edit(struct content_run *run, size_t start, size_t end, const char *text,
                         const char *suffix)
{
    struct content_edit *e;
    size_t tlen = text != NULL ? strlen(text) : 0;
    size_t slen = suffix != NULL ? strlen(suffix) : 0;

    if (run->edit_count > 0 && start < run->edits[run->edit_count - 1].end)
        msg_panic("content_edit: edit at %zu before the previous one", start);
    run->edits = xgrow(run->edits, &run->edit_cap, run->edit_count + 1, sizeof(*run->edits));
    e = &run->edits[run->edit_count++];
    e->start = start;
    e->end = end;
    e->text_len = tlen + slen;
    e->text = xmalloc(e->text_len + 1);
    if (tlen)
        memcpy(e->text, text, tlen);
    if (slen)
        memcpy(e->text + tlen, suffix, slen);
    e->text[e->text_len] = '\0';
}

/* Postfix's is_header(): "Name:" or "Name :" at the start. */
static int content_is_header(const char *text)
{
    const unsigned char *cp = (const unsigned char *)text;
    size_t name = 0;

    while (*cp > 0x20 && *cp < 0x7f && *cp != ':') {
        cp++;
        name++;
    }
    while (name > 0 && (*cp == ' ' || *cp == '\t'))
        cp++;
    return name > 0 && *cp == ':';
}

static void content_explain_match(struct content_run *run, const struct checks_list *check,
                                  const struct table_result *r, int header, const char *input,
                                  const struct content_span *span, struct content_mime *mime,
                                  const char *what)
{
    char rule[300];
    char shown[300];
    char part[200];

    if (run->explain == NULL)
        return;
    checks_rule_source(r->where, 1, rule, sizeof(rule));
    checks_show(input, 1, shown, sizeof(shown));
    content_mime_where(mime, part, sizeof(part));
    checks_explain(run->explain, 1, "%s %s%s%s%s: %s at line %zu (%s) \"%s\" -> %s", check->param,
                   r->where ? r->where : "", *rule ? " \"" : "", rule, *rule ? "\"" : "",
                   header ? "header" : "body line", span->line, part, shown, r->value);
    checks_explain(run->explain, 2, "%s", what);
}

/* Header context: the whole logical header (all its lines). Body: the
 * record. */
static void content_do_edit(struct content_run *run, const char *cmd, const char *text,
                            const struct content_span *span)
{
    if (strcmp(cmd, "PREPEND") == 0)
        content_edit(run, span->start, span->start, text, "\r\n");
    else if (strcmp(cmd, "REPLACE") == 0)
        content_edit(run, span->start, span->content_end, text, NULL);
    else
        content_edit(run, span->start, span->end, NULL, NULL);
}

/* Physical lines in [text, text + len). */
static size_t content_lines(const char *text, size_t len)
{
    size_t lines = 0;

    for (const char *cp = text; (cp = memchr(cp, '\n', len - (size_t)(cp - text))) != NULL; cp++)
        lines++;
    return lines;
}

/* The edits, which only header_checks and body_checks have. */
static void content_act_edit(struct content_run *run, const struct checks_act *a, int header,
                             const char *cmd, const char *text, const struct content_span *span,
                             char *what, size_t wlen)
{
    int prepend = strcmp(cmd, "PREPEND") == 0;

    if (strcmp(cmd, "STRIP") == 0 || strcmp(cmd, "IGNORE") == 0) {
        size_t lines = content_lines(run->data + span->start, span->end - span->start);
        if (cmd[0] == 'S')
            checks_note(run->verdict, "strip", a->subject, text);
        content_do_edit(run, "IGNORE", NULL, span);
        if (lines > 1)
            snprintf(what, wlen, "%s removed (lines %zu to %zu)", header ? "header" : "line",
                     span->line, span->line + lines - 1);
        else
            snprintf(what, wlen, "%s removed", header ? "header" : "line");
    } else if (*text == '\0') {
        checks_warn_once(a->set, a->explain, a->where, "%s action without text in %s map", cmd,
                         a->param);
        snprintf(what, wlen, "%s without text: no effect", cmd);
    } else if (header && !content_is_header(text)) {
        checks_warn_once(a->set, a->explain, a->where,
                         "bad %s header text \"%s\" in %s map -- "
                         "need \"headername: headervalue\"",
                         cmd, text, a->param);
        snprintf(what, wlen, "%s text is no header: no effect", cmd);
    } else {
        checks_note(run->verdict, prepend ? "prepend" : "replace", a->subject, text);
        content_do_edit(run, cmd, text, span);
        snprintf(what, wlen, "%s \"%.200s\" %s", prepend ? "inserted" : "replaced by", text,
                 prepend ? "before it" : "");
    }
}

/* The one action dispatcher (Postfix's cleanup_act()): the edits here, the
 * rest in checks_act(). Fills what, for --explain. */
static void content_act(struct content_run *run, const struct checks_list *check, int header,
                        const char *input, const struct table_result *r,
                        const struct content_span *span, char *what, size_t wlen)
{
    static const char *const edits[] = {"PREPEND", "REPLACE", "STRIP", "IGNORE"};
    const char *value = r->value;
    size_t cmd_len = strcspn(value, " \t");
    const char *text = value + cmd_len;
    char *subject = xasprintf("%s %.200s", header ? "header" : "body", input);
    struct checks_act a = {
        .set = &run->rules->set,
        .explain = run->explain,
        .verdict = run->verdict,
        .param = check->param,
        .where = r->where != NULL ? r->where : check->param,
        .subject = subject,
        .scope = "header or body",
        .input = header ? "header" : "line",
        .reason = &run->reason,
        .stop = &run->inspect_off,
        .held = &run->held,
        .discarded = &run->discarded,
    };
    size_t i;

    while (isspace((unsigned char)*text))
        text++;
    for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
        if (checks_is(value, cmd_len, edits[i]))
            break;
    if (i < sizeof(edits) / sizeof(edits[0]))
        content_act_edit(run, &a, header, edits[i], text, span, what, wlen);
    else
        checks_act(&a, value, what, wlen);
    free(subject);
}

static enum content_mime_next content_next(const struct content_run *run)
{
    if (!run->inspect_off)
        return CONTENT_MIME_GO;
    /* Keep parsing only when a nesting error could still decide. */
    return run->rules->mime.report_nesting && run->reason == NULL && !run->discarded
               ? CONTENT_MIME_QUIET
               : CONTENT_MIME_STOP;
}

static void content_inspect(struct content_run *run, const struct checks_list *check, int header,
                            const char *key, const struct content_span *span,
                            struct content_mime *mime)
{
    struct table_result r;
    char what[512];

    if (checks_lookup(check, key, &r, run->explain, 1, &run->lookup_failed) <= 0)
        return;
    content_act(run, check, header, key, &r, span, what, sizeof(what));
    content_explain_match(run, check, &r, header, key, span, mime, what);
    table_result_free(&r);
}

static enum content_mime_next content_header(void *ctx, struct content_mime *mime,
                                             enum content_hdr_class cls, int is_mime,
                                             const char *text, size_t len, int truncated,
                                             const struct content_span *span)
{
    struct content_run *run = ctx;
    const struct checks_list *check;

    (void)len;
    if (is_mime)
        cls = CONTENT_HDR_MULTIPART;
    check = &run->rules->checks[cls == CONTENT_HDR_PRIMARY     ? CHECK_HEADER
                                : cls == CONTENT_HDR_MULTIPART ? CHECK_MIME
                                                               : CHECK_NESTED];
    if (check->count == 0)
        return CONTENT_MIME_GO;
    run->headers++;
    if (truncated)
        checks_explain(run->explain, 1,
                       "header at line %zu: longer than header_size_limit (%zu), "
                       "inspected as cut at %zu bytes",
                       span->line, run->rules->mime.header_size_limit, len);
    content_inspect(run, check, 1, text, span, mime);
    return content_next(run);
}

static enum content_mime_next content_body(void *ctx, struct content_mime *mime, const char *text,
                                           size_t len, size_t offset,
                                           const struct content_span *span)
{
    struct content_run *run = ctx;
    const struct checks_list *check = &run->rules->checks[CHECK_BODY];
    size_t limit = run->rules->body_checks_size_limit;

    if (check->count == 0)
        return CONTENT_MIME_GO;
    if (limit > 0 && offset >= limit) {
        if (!run->limit_noted) {
            char part[200];
            content_mime_where(mime, part, sizeof(part));
            checks_explain(run->explain, 1,
                           "body_checks_size_limit (%zu) reached at line %zu (%s): "
                           "the rest of this body segment is not inspected",
                           limit, span->line, part);
        }
        run->limit_noted = 1;
        return CONTENT_MIME_GO;
    }
    run->limit_noted = 0;
    /* Postfix never looks up an empty key (nor text after a NUL). */
    if (len == 0 || text[0] == '\0')
        return CONTENT_MIME_GO;
    if (len + 1 > run->key_cap)
        run->key = xgrow(run->key, &run->key_cap, len + 1, 1);
    memcpy(run->key, text, len);
    run->key[len] = '\0';
    run->body_records++;
    content_inspect(run, check, 0, run->key, span, mime);
    return content_next(run);
}

static char *content_apply_edits(const struct content_run *run, size_t *out_len)
{
    size_t total = run->len;
    size_t pos = 0;
    size_t used = 0;
    char *out;

    for (size_t i = 0; i < run->edit_count; i++)
        total = total - (run->edits[i].end - run->edits[i].start) + run->edits[i].text_len;
    out = xmalloc(total + 1);
    for (size_t i = 0; i < run->edit_count; i++) {
        const struct content_edit *e = &run->edits[i];
        memcpy(out + used, run->data + pos, e->start - pos);
        used += e->start - pos;
        memcpy(out + used, e->text, e->text_len);
        used += e->text_len;
        pos = e->end;
    }
    memcpy(out + used, run->data + pos, run->len - pos);
    used += run->len - pos;
    out[used] = '\0';
    *out_len = used;
    return out;
}

/* The end-of-DATA reply, in the precedence of Postfix's smtpd; NULL when
 * accepted. Postfix discards a message whatever else went wrong with it. */
static char *content_reply(const struct content_run *run, int errors)
{
    if (run->discarded)
        return NULL;
    if (run->reason != NULL)
        return checks_reject_reply(run->reason);
    if (errors & CONTENT_MIME_ERR_NESTING)
        return xstrdup("550 5.6.0 MIME nesting exceeds safety limit");
    if (run->lookup_failed)
        return xstrdup("451 4.3.0 Error: queue file write error");
    return NULL;
}

static void content_finish(struct content_run *run, int errors, char **rewritten,
                           size_t *rewritten_len)
{
    struct rules_verdict *v = run->verdict;

    v->reply = content_reply(run, errors);
    if (errors & CONTENT_MIME_ERR_NESTING)
        checks_explain(run->explain, 1, "MIME nesting deeper than mime_nesting_limit (%zu)",
                       run->rules->mime.nesting_limit);
    if (v->reply == NULL && run->edit_count > 0)
        *rewritten = content_apply_edits(run, rewritten_len);
    checks_explain(run->explain, 0,
                   "content checks: %zu header(s) and %zu body line(s) looked up; %s%s%s",
                   run->headers, run->body_records, v->reply ? "reply " : "",
                   v->reply             ? v->reply
                   : run->discarded     ? "accepted, to be discarded"
                   : *rewritten != NULL ? "accepted, message edited"
                                        : "accepted, message unchanged",
                   v->hold && !v->reply ? " (held)" : "");
}

void content_check(struct content_rules *rules, const char *data, size_t len,
                   struct rules_verdict *verdict, char **rewritten, size_t *rewritten_len,
                   const struct rules_explain *explain)
{
    static const struct content_mime_ops ops = {content_header, content_body};
    struct content_run run;
    int errors;

    memset(verdict, 0, sizeof(*verdict));
    *rewritten = NULL;
    *rewritten_len = 0;
    if (content_rules_empty(rules))
        return;
    memset(&run, 0, sizeof(run));
    run.rules = rules;
    run.data = data;
    run.len = len;
    run.verdict = verdict;
    run.explain = explain;
    errors = content_mime_scan(&rules->mime, data, len, &ops, &run);
    content_finish(&run, errors, rewritten, rewritten_len);
    for (size_t i = 0; i < run.edit_count; i++)
        free(run.edits[i].text);
    free(run.edits);
    free(run.key);
    free(run.reason);
}
