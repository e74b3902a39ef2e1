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

struct content_check {
    const char *param;
    struct table **tables; /* owned by content_rules.opened */
    size_t count;
};

struct content_rules {
    struct content_check checks[CHECK_COUNT];
    struct table **opened; /* each table once, however often named */
    size_t opened_count;
    struct content_mime_config mime;
    size_t body_checks_size_limit; /* 0: no limit */
    char **warned;                 /* warnings already logged, "where: text" */
    size_t warned_count;
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

static void content_where(const struct rules_source *source, const char *name, char *buf,
                          size_t len)
{
    buf[0] = '\0';
    if (source->where != NULL)
        source->where(source->ctx, name, buf, len);
    if (buf[0] == '\0')
        snprintf(buf, len, "parameter %s", name);
}

static int content_size(const struct rules_source *source, const char *name, size_t min,
                        size_t *value, char *err, size_t errlen)
{
    const char *text = content_get(source, name);
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
    content_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad numerical configuration: %s = %s", where, name,
             text != NULL ? text : "");
    return -1;
}

static int content_bool(const struct rules_source *source, const char *name, int *value, char *err,
                        size_t errlen)
{
    const char *text = content_get(source, name);
    char where[512];

    if (text == NULL || strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0) {
        *value = 0;
        return 0;
    }
    if (strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0) {
        *value = 1;
        return 0;
    }
    content_where(source, name, where, sizeof(where));
    snprintf(err, errlen, "%s: bad boolean configuration: %s = %s", where, name, text);
    return -1;
}

static struct table *content_open(struct content_rules *rules, const char *spec, char *err,
                                  size_t errlen)
{
    struct table *table;

    for (size_t i = 0; i < rules->opened_count; i++)
        if (strcmp(table_spec(rules->opened[i]), spec) == 0)
            return rules->opened[i];
    if ((table = table_open(spec, err, errlen)) == NULL)
        return NULL;
    rules->opened = xrealloc(rules->opened, (rules->opened_count + 1) * sizeof(*rules->opened));
    rules->opened[rules->opened_count++] = table;
    return table;
}

/* "type:name, type:name": Postfix searches them in order. */
static int content_load_check(struct content_rules *rules, const struct rules_source *source,
                              int which, char *err, size_t errlen)
{
    struct content_check *check = &rules->checks[which];
    const char *value = content_get(source, check_params[which]);
    char where[512];
    char terr[1024];
    size_t count;
    char **words;
    int rc = 0;

    check->param = check_params[which];
    words = rules_split(value != NULL ? value : "", &count);
    check->tables = xcalloc(count + 1, sizeof(*check->tables));
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct table *table = NULL;
        terr[0] = '\0';
        if (strchr(words[i], ':') == NULL)
            snprintf(terr, sizeof(terr), "bad table \"%s\": need type:name", words[i]);
        else
            table = content_open(rules, words[i], terr, sizeof(terr));
        if (table == NULL) {
            content_where(source, check->param, where, sizeof(where));
            snprintf(err, errlen, "%s: parameter %s: %s", where, check->param, terr);
            rc = -1;
        } else {
            check->tables[check->count++] = table;
        }
    }
    rules_split_free(words, count);
    return rc;
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
        if (content_load_check(rules, source, i, err, errlen) < 0) {
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
    for (size_t i = 0; i < rules->opened_count; i++)
        table_free(rules->opened[i]);
    free(rules->opened);
    for (size_t i = 0; i < rules->warned_count; i++)
        free(rules->warned[i]);
    free(rules->warned);
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
    for (size_t i = 0; i < rules->opened_count; i++)
        if (table_changed(rules->opened[i]))
            return 1;
    return 0;
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

static void content_explain(struct content_run *run, int depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void content_explain(struct content_run *run, int depth, const char *fmt, ...)
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

/* A warning about a table entry, logged once per entry and text. */
static void content_warn_once(struct content_run *run, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void content_warn_once(struct content_run *run, const char *where, const char *fmt, ...)
{
    struct content_rules *rules = run->rules;
    char text[1024];
    char *line;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    content_explain(run, 2, "warning: %s", text);
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

static void content_note(struct content_run *run, const char *kind, int header, const char *input,
                         const char *text)
{
    struct rules_verdict *v = run->verdict;
    char *note =
        xasprintf("%s %.200s%s%s", header ? "header" : "body", input, *text ? ": " : "", text);

    rules_printable(note);
    v->notes = xrealloc(v->notes, (v->note_count + 1) * sizeof(*v->notes));
    v->notes[v->note_count].kind = xstrdup(kind);
    v->notes[v->note_count].text = note;
    v->note_count++;
}

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

static int content_is(const char *value, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(value, word, len) == 0;
}

/* Input shown in --explain: printable, folded lines as \n, cut long. */
static void content_show(const char *input, char *buf, size_t len)
{
    size_t used = 0;

    for (const char *cp = input; *cp && used + 8 < len; cp++) {
        unsigned char c = (unsigned char)*cp;
        if (c == '\n') {
            buf[used++] = '\\';
            buf[used++] = 'n';
        } else if (c == '\t') {
            buf[used++] = '\\';
            buf[used++] = 't';
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

/* The table line that matched, read again from its file (--explain only):
 * where is "FILE, line N". Empty when it cannot be read. */
static void content_rule_source(const char *where, char *buf, size_t len)
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
            content_show(line, buf, len);
            break;
        }
    }
    free(line);
    fclose(fp);
}

static void content_explain_match(struct content_run *run, const struct content_check *check,
                                  const struct table_result *r, int header, const char *input,
                                  const struct content_span *span, struct content_mime *mime,
                                  const char *what)
{
    char rule[300];
    char shown[300];
    char part[200];

    if (run->explain == NULL)
        return;
    content_rule_source(r->where, rule, sizeof(rule));
    content_show(input, shown, sizeof(shown));
    content_mime_where(mime, part, sizeof(part));
    content_explain(run, 1, "%s %s%s%s%s: %s at line %zu (%s) \"%s\" -> %s", check->param,
                    r->where ? r->where : "", *rule ? " \"" : "", rule, *rule ? "\"" : "",
                    header ? "header" : "body line", span->line, part, shown, r->value);
    content_explain(run, 2, "%s", what);
}

static void content_reject(struct content_run *run, const char *text, const char *where)
{
    char dsn[16];
    const char *msg;

    if (*text == '\0')
        text = "5.7.1 message content rejected";
    msg = rules_dsn_split(text, "5.7.1", dsn, sizeof(dsn));
    free(run->reason);
    run->reason = xasprintf("%s %s", dsn, msg);
    if (run->reason[0] != '4' && run->reason[0] != '5') {
        content_warn_once(run, where, "bad DSN action in %s -- need 4.x.x or 5.x.x", text);
        run->reason[0] = '4';
    }
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

/* The one action dispatcher (Postfix's cleanup_act()). Returns what to say
 * about it for --explain. */
static const char *content_act(struct content_run *run, const struct content_check *check,
                               int header, const char *input, const struct table_result *r,
                               const struct content_span *span, char *what, size_t wlen)
{
    const char *value = r->value;
    const char *where = r->where != NULL ? r->where : check->param;
    size_t cmd_len = strcspn(value, " \t");
    const char *text = value + cmd_len;
    struct rules_verdict *v = run->verdict;

    while (isspace((unsigned char)*text))
        text++;

    if (content_is(value, cmd_len, "REJECT")) {
        content_reject(run, text, where);
        run->inspect_off = 1;
        snprintf(what, wlen, "message rejected: %s %s; inspection stops",
                 run->reason[0] == '4' ? "451" : "550", run->reason);
    } else if (content_is(value, cmd_len, "WARN") || content_is(value, cmd_len, "INFO")) {
        int warn = content_is(value, cmd_len, "WARN");
        content_note(run, warn ? "warn" : "info", header, input, text);
        snprintf(what, wlen, "logged as %s", warn ? "warning" : "info");
    } else if (content_is(value, cmd_len, "FILTER")) {
        if (*text == '\0' || strchr(text, ':') == NULL) {
            if (*text == '\0')
                content_warn_once(run, where, "missing FILTER command argument in %s map",
                                  check->param);
            else
                content_warn_once(run, where,
                                  "bad FILTER command %s in %s -- need transport:destination", text,
                                  check->param);
            snprintf(what, wlen, "malformed FILTER: no effect");
        } else {
            free(v->filter);
            v->filter = xstrdup(text);
            content_note(run, "filter", header, input, text);
            snprintf(what, wlen, "message goes to content filter %s (the last FILTER wins)", text);
        }
    } else if (content_is(value, cmd_len, "PASS")) {
        content_note(run, "pass", header, input, text);
        run->inspect_off = 1;
        snprintf(what, wlen, "no further header or body inspection");
    } else if (content_is(value, cmd_len, "DISCARD")) {
        content_note(run, "discard", header, input, text);
        run->discarded = 1;
        free(v->discard);
        v->discard = xstrdup(text);
        run->inspect_off = 1;
        snprintf(what, wlen, "message accepted and discarded; inspection stops");
    } else if (content_is(value, cmd_len, "HOLD")) {
        if (!run->held && !run->discarded) {
            content_note(run, "hold", header, input, text);
            run->held = 1;
            v->hold = xstrdup(text);
            snprintf(what, wlen, "message goes to the hold queue; inspection goes on");
        } else {
            snprintf(what, wlen, "already %s: nothing more", run->held ? "held" : "discarded");
        }
    } else if (content_is(value, cmd_len, "PREPEND") || content_is(value, cmd_len, "REPLACE")) {
        const char *cmd = content_is(value, cmd_len, "PREPEND") ? "PREPEND" : "REPLACE";
        if (*text == '\0') {
            content_warn_once(run, where, "%s action without text in %s map", cmd, check->param);
            snprintf(what, wlen, "%s without text: no effect", cmd);
        } else if (header && !content_is_header(text)) {
            content_warn_once(run, where,
                              "bad %s header text \"%s\" in %s map -- "
                              "need \"headername: headervalue\"",
                              cmd, text, check->param);
            snprintf(what, wlen, "%s text is no header: no effect", cmd);
        } else {
            content_note(run, cmd[0] == 'P' ? "prepend" : "replace", header, input, text);
            content_do_edit(run, cmd, text, span);
            snprintf(what, wlen, "%s \"%.200s\" %s", cmd[0] == 'P' ? "inserted" : "replaced by",
                     text, cmd[0] == 'P' ? "before it" : "");
        }
    } else if (content_is(value, cmd_len, "REDIRECT") || content_is(value, cmd_len, "BCC")) {
        int bcc = content_is(value, cmd_len, "BCC");
        if (strchr(text, '@') == NULL) {
            content_warn_once(run, where, "bad %s %s \"%s\" in %s map -- need user@domain",
                              bcc ? "BCC" : "REDIRECT", bcc ? "address" : "target", text,
                              check->param);
            snprintf(what, wlen, "malformed %s: no effect", bcc ? "BCC" : "REDIRECT");
        } else if (bcc) {
            v->bcc = xrealloc(v->bcc, (v->bcc_count + 1) * sizeof(*v->bcc));
            v->bcc[v->bcc_count++] = xstrdup(text);
            content_note(run, "bcc", header, input, text);
            snprintf(what, wlen, "BCC recipient %s added", text);
        } else {
            free(v->redirect);
            v->redirect = xstrdup(text);
            content_note(run, "redirect", header, input, text);
            run->inspect_off = 1;
            snprintf(what, wlen, "all recipients replaced by %s; inspection stops", text);
        }
    } else if (content_is(value, cmd_len, "STRIP") || content_is(value, cmd_len, "IGNORE")) {
        if (content_is(value, cmd_len, "STRIP"))
            content_note(run, "strip", header, input, text);
        content_do_edit(run, "IGNORE", NULL, span);
        size_t lines = content_lines(run->data + span->start, span->end - span->start);
        if (lines > 1)
            snprintf(what, wlen, "%s removed (lines %zu to %zu)", header ? "header" : "line",
                     span->line, span->line + lines - 1);
        else
            snprintf(what, wlen, "%s removed", header ? "header" : "line");
    } else if (content_is(value, cmd_len, "DUNNO") || content_is(value, cmd_len, "OK")) {
        snprintf(what, wlen, "no action for this %s", header ? "header" : "line");
    } else {
        content_warn_once(run, where, "unknown command in %s map: %s", check->param, value);
        snprintf(what, wlen, "unknown command: no effect");
    }
    return what;
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

/* Postfix's maps_find(): the tables in order, the first answer wins. */
static int content_lookup(struct content_run *run, const struct content_check *check,
                          const char *key, struct table_result *r)
{
    for (size_t i = 0; i < check->count; i++) {
        int status = table_lookup(check->tables[i], key, r);
        if (status == 0)
            continue;
        if (status < 0) {
            msg_warn("%s map lookup problem -- message not accepted, try again later: %s",
                     check->param, r->value != NULL ? r->value : table_spec(check->tables[i]));
            content_explain(run, 1, "%s %s: lookup error: %s", check->param,
                            table_spec(check->tables[i]), r->value ? r->value : "");
            run->lookup_failed = 1;
            table_result_free(r);
        }
        return status;
    }
    return 0;
}

static void content_inspect(struct content_run *run, const struct content_check *check, int header,
                            const char *key, const struct content_span *span,
                            struct content_mime *mime)
{
    struct table_result r;
    char what[512];

    if (content_lookup(run, check, key, &r) <= 0)
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
    const struct content_check *check;

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
        content_explain(run, 1,
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
    const struct content_check *check = &run->rules->checks[CHECK_BODY];
    size_t limit = run->rules->body_checks_size_limit;

    if (check->count == 0)
        return CONTENT_MIME_GO;
    if (limit > 0 && offset >= limit) {
        if (!run->limit_noted) {
            char part[200];
            content_mime_where(mime, part, sizeof(part));
            content_explain(run, 1,
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
        return xasprintf("%d %s", run->reason[0] == '4' ? 451 : 550, run->reason);
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
        content_explain(run, 1, "MIME nesting deeper than mime_nesting_limit (%zu)",
                        run->rules->mime.nesting_limit);
    if (v->reply == NULL && run->edit_count > 0)
        *rewritten = content_apply_edits(run, rewritten_len);
    content_explain(run, 0, "content checks: %zu header(s) and %zu body line(s) looked up; %s%s%s",
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
