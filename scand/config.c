/*
 * config.c - main.cf syntax (postconf(5)); see config.h.
 *
 * Reading follows Postfix's readlline(3): blank lines and lines whose first
 * non-blank character is '#' are skipped wherever they are, even between a
 * parameter and its continuation lines, so an admin can comment out one
 * line of a long list. Unlike Postfix, which only warns, a continuation
 * line with nothing to continue is an error: the daemon must not start
 * with half of a setting silently dropped.
 *
 * Expansion follows mac_parse(3)/mac_expand(3) and happens when a value is
 * looked up, so "$myhostname" sees a default that params.c sets after the
 * file was read. Every expansion is bounded: 100 levels of nesting (a loop
 * such as "a = $b", "b = $a" hits it) and CONFIG_EXPAND_MAX bytes of output
 * (nested "$b$b" doubles at each level).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "scand/config.h"
#include "util/msg.h"
#include "util/xalloc.h"

#define CONFIG_DEPTH_MAX 100
#define CONFIG_EXPAND_MAX (1024 * 1024)

struct config_entry {
    char *name;
    char *raw;
    int line;       /* 0: set by config_set, not read from the file */
    char *expanded; /* cache, NULL until looked up */
};

struct config {
    char *file;
    struct config_entry *entries;
    size_t count;
    size_t alloc;
    /* Expansions handed out before a config_set made them stale: callers
     * may still hold them, and config.h promises they stay valid. */
    char **retired;
    size_t nretired;
    size_t retired_alloc;
};

static struct config *config_new(const char *name)
{
    struct config *config = xcalloc(1, sizeof(*config));
    config->file = xstrdup(name);
    return config;
}

void config_free(struct config *config)
{
    if (config == NULL)
        return;
    for (size_t i = 0; i < config->count; i++) {
        free(config->entries[i].name);
        free(config->entries[i].raw);
        free(config->entries[i].expanded);
    }
    for (size_t i = 0; i < config->nretired; i++)
        free(config->retired[i]);
    free(config->entries);
    free(config->retired);
    free(config->file);
    free(config);
}

static struct config_entry *config_find(const struct config *config, const char *name)
{
    for (size_t i = 0; i < config->count; i++)
        if (strcmp(config->entries[i].name, name) == 0)
            return &config->entries[i];
    return NULL;
}

/* A new value may change what any other value expands to. */
static void config_retire_expansions(struct config *config)
{
    for (size_t i = 0; i < config->count; i++) {
        if (config->entries[i].expanded == NULL)
            continue;
        config->retired = xgrow(config->retired, &config->retired_alloc, config->nretired + 1,
                                sizeof(*config->retired));
        config->retired[config->nretired++] = config->entries[i].expanded;
        config->entries[i].expanded = NULL;
    }
}

/* Store name = raw; a repeated name moves to the end so that
 * config_walk still visits in the order the file gives the final values. */
static void config_store(struct config *config, const char *name, size_t namelen, const char *raw,
                         size_t rawlen, int line)
{
    char *key = xstrndup(name, namelen);
    struct config_entry *old = config_find(config, key);

    config_retire_expansions(config);
    if (old != NULL) {
        size_t index = (size_t)(old - config->entries);
        free(old->name);
        free(old->raw);
        memmove(old, old + 1, (config->count - index - 1) * sizeof(*old));
        config->count--;
    }
    config->entries =
        xgrow(config->entries, &config->alloc, config->count + 1, sizeof(*config->entries));
    struct config_entry *entry = &config->entries[config->count++];
    entry->name = key;
    entry->raw = xstrndup(raw, rawlen);
    entry->line = line;
    entry->expanded = NULL;
}

void config_set(struct config *config, const char *name, const char *raw_value)
{
    config_store(config, name, strlen(name), raw_value, strlen(raw_value), 0);
}

/* Split one logical line into name = value as Postfix's split_nameval():
 * the name ends at white space or '='; white space around '=' and at the
 * end of the value is dropped. */
static int config_parse_logical(struct config *config, const char *text, size_t len, int line,
                                char *err, size_t errlen)
{
    const char *end = text + len;
    const char *np = text;
    const char *ep;
    const char *vp;

    while (end > text && isspace((unsigned char)end[-1]))
        end--;
    for (ep = np; ep < end && !isspace((unsigned char)*ep) && *ep != '='; ep++)
        ;
    vp = ep;
    while (vp < end && isspace((unsigned char)*vp))
        vp++;
    if (vp >= end || *vp != '=') {
        snprintf(err, errlen, "%s, line %d: missing '=' after attribute name: \"%.*s\"",
                 config->file, line, (int)(end - text), text);
        return -1;
    }
    if (ep == np) {
        snprintf(err, errlen, "%s, line %d: missing attribute name: \"%.*s\"", config->file, line,
                 (int)(end - text), text);
        return -1;
    }
    vp++;
    while (vp < end && isspace((unsigned char)*vp))
        vp++;
    config_store(config, np, (size_t)(ep - np), vp, (size_t)(end - vp), line);
    return 0;
}

/* The logical line gathered so far, and the physical line it started on. */
struct config_reader {
    struct evbuffer *logical;
    int start_line;
};

static int config_flush_logical(struct config *config, struct config_reader *reader, char *err,
                                size_t errlen)
{
    size_t len = evbuffer_get_length(reader->logical);
    int status = 0;

    if (len > 0) {
        const char *text = (const char *)evbuffer_pullup(reader->logical, -1);
        status = config_parse_logical(config, text, len, reader->start_line, err, errlen);
        evbuffer_drain(reader->logical, len);
    }
    return status;
}

/* One physical line (without its newline). */
static int config_read_line(struct config *config, struct config_reader *reader, const char *text,
                            size_t len, int line, char *err, size_t errlen)
{
    size_t skip = 0;

    while (skip < len && isspace((unsigned char)text[skip]))
        skip++;
    if (skip == len || text[skip] == '#')
        return 0;
    if (skip == 0) {
        if (config_flush_logical(config, reader, err, errlen) < 0)
            return -1;
        reader->start_line = line;
        evbuffer_add(reader->logical, text, len);
        return 0;
    }
    if (evbuffer_get_length(reader->logical) == 0) {
        snprintf(err, errlen, "%s, line %d: logical line must not start with whitespace: \"%.*s\"",
                 config->file, line, (int)(len > 30 ? 30 : len), text);
        return -1;
    }
    /* config.h: a continuation is joined to what precedes it with one space. */
    evbuffer_add(reader->logical, " ", 1);
    evbuffer_add(reader->logical, text + skip, len - skip);
    return 0;
}

struct config *config_load_string(const char *text, const char *name, char *err, size_t errlen)
{
    struct config *config = config_new(name);
    struct config_reader reader = {evbuffer_new(), 0};
    const char *cp = text;
    int line = 0;
    int status = 0;

    if (reader.logical == NULL)
        msg_fatal("out of memory allocating a buffer");
    while (status == 0 && *cp != '\0') {
        const char *nl = strchr(cp, '\n');
        size_t len = nl ? (size_t)(nl - cp) : strlen(cp);
        line++;
        status = config_read_line(config, &reader, cp, len, line, err, errlen);
        cp += len + (nl ? 1 : 0);
    }
    if (status == 0)
        status = config_flush_logical(config, &reader, err, errlen);
    evbuffer_free(reader.logical);
    if (status < 0) {
        config_free(config);
        return NULL;
    }
    return config;
}

struct config *config_load_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char *text = NULL;
    size_t size = 0;
    struct config *config;

    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    FILE *mem = open_memstream(&text, &size);
    if (mem == NULL)
        msg_fatal("open_memstream: %s", strerror(errno));
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        fwrite(chunk, 1, n, mem);
    int read_error = ferror(fp);
    fclose(fp);
    fclose(mem);
    if (read_error) {
        snprintf(err, errlen, "%s: read error", path);
        free(text);
        return NULL;
    }
    if (memchr(text, '\0', size) != NULL) {
        snprintf(err, errlen, "%s: file contains a null byte", path);
        free(text);
        return NULL;
    }
    config = config_load_string(text, path, err, errlen);
    free(text);
    return config;
}

/* Expansion state for one lookup. */
struct config_expand {
    struct config *config;
    const char *top; /* the name looked up, for messages */
    char *err;
    size_t errlen;
};

static int config_expand_text(struct config_expand *ex, const char *text, size_t len,
                              struct evbuffer *out, int depth);

static int config_expand_fail(struct config_expand *ex, const char *what, const char *text,
                              size_t len)
{
    struct config_entry *entry = config_find(ex->config, ex->top);
    int line = entry ? entry->line : 0;

    if (line > 0)
        snprintf(ex->err, ex->errlen, "%s, line %d: parameter %s: %s: \"%.*s\"", ex->config->file,
                 line, ex->top, what, (int)len, text);
    else
        snprintf(ex->err, ex->errlen, "%s: parameter %s: %s: \"%.*s\"", ex->config->file, ex->top,
                 what, (int)len, text);
    return -1;
}

/* The expanded value of name (the empty string when it is not set). */
static int config_expand_name(struct config_expand *ex, const char *name, size_t namelen,
                              struct evbuffer *out, int depth)
{
    char *key = xstrndup(name, namelen);
    struct config_entry *entry = config_find(ex->config, key);
    int status = 0;

    free(key);
    if (entry == NULL)
        return 0;
    if (entry->expanded != NULL)
        evbuffer_add(out, entry->expanded, strlen(entry->expanded));
    else
        status = config_expand_text(ex, entry->raw, strlen(entry->raw), out, depth + 1);
    return status;
}

/* A span of the text being expanded. */
struct config_span {
    const char *text;
    size_t len;
};

static void config_skip_space(struct config_span *span)
{
    while (span->len > 0 && isspace((unsigned char)span->text[0])) {
        span->text++;
        span->len--;
    }
}

/* Take "{...}" (nested braces allowed) off the front of span, and the white
 * space after it (postconf(5): white space around {value} is ignored). */
static int config_take_braced(struct config_span *span, struct config_span *inner)
{
    int level = 1;
    size_t i;

    if (span->len == 0 || span->text[0] != '{')
        return -1;
    for (i = 1; i < span->len && level > 0; i++) {
        if (span->text[i] == '{')
            level++;
        else if (span->text[i] == '}')
            level--;
    }
    if (level > 0)
        return -1;
    inner->text = span->text + 1;
    inner->len = i - 2;
    span->text += i;
    span->len -= i;
    config_skip_space(span);
    return 0;
}

/* Expand a span into a fresh buffer (for a test, not for output). */
static struct evbuffer *config_expand_span(struct config_expand *ex, struct config_span span,
                                           int depth, int *status)
{
    struct evbuffer *buf = evbuffer_new();

    if (buf == NULL)
        msg_fatal("out of memory allocating a buffer");
    *status = config_expand_text(ex, span.text, span.len, buf, depth + 1);
    return buf;
}

/* The comparison of postconf(5): numerical when both sides are all digits. */
static int config_compare(struct evbuffer *left, struct evbuffer *right)
{
    size_t llen = evbuffer_get_length(left);
    size_t rlen = evbuffer_get_length(right);
    char *a = xstrndup(llen ? (const char *)evbuffer_pullup(left, -1) : "", llen);
    char *b = xstrndup(rlen ? (const char *)evbuffer_pullup(right, -1) : "", rlen);
    int digits =
        llen > 0 && rlen > 0 && strspn(a, "0123456789") == llen && strspn(b, "0123456789") == rlen;
    int cmp;

    if (digits) {
        /* Compare as numbers of any length: drop leading zeros, then the
         * longer one is larger. */
        const char *x = a + strspn(a, "0");
        const char *y = b + strspn(b, "0");
        size_t xl = strlen(x), yl = strlen(y);
        cmp = xl != yl ? (xl < yl ? -1 : 1) : strcmp(x, y);
    } else {
        cmp = strcmp(a, b);
    }
    free(a);
    free(b);
    return cmp;
}

/* "{value3} OP {value4}" at the front of span: *truth gets the result. */
static int config_relation(struct config_expand *ex, struct config_span *span, int depth,
                           int *truth, struct config_span whole)
{
    static const struct {
        const char *op;
        int lt, eq, gt;
    } ops[] = {{"==", 0, 1, 0}, {"!=", 1, 0, 1}, {"<=", 1, 1, 0},
               {">=", 0, 1, 1}, {"<", 1, 0, 0},  {">", 0, 0, 1}};
    struct config_span left, right;
    size_t i;
    int status;

    if (config_take_braced(span, &left) < 0)
        return config_expand_fail(ex, "bad relational expression", whole.text, whole.len);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (span->len >= strlen(ops[i].op) &&
            strncmp(span->text, ops[i].op, strlen(ops[i].op)) == 0)
            break;
    if (i == sizeof(ops) / sizeof(ops[0]))
        return config_expand_fail(ex, "unknown relational operator", whole.text, whole.len);
    span->text += strlen(ops[i].op);
    span->len -= strlen(ops[i].op);
    config_skip_space(span);
    if (config_take_braced(span, &right) < 0)
        return config_expand_fail(ex, "bad relational expression", whole.text, whole.len);

    struct evbuffer *lbuf = config_expand_span(ex, left, depth, &status);
    struct evbuffer *rbuf = NULL;
    if (status == 0)
        rbuf = config_expand_span(ex, right, depth, &status);
    if (status == 0) {
        int cmp = config_compare(lbuf, rbuf);
        *truth = cmp < 0 ? ops[i].lt : cmp == 0 ? ops[i].eq : ops[i].gt;
    }
    evbuffer_free(lbuf);
    if (rbuf != NULL)
        evbuffer_free(rbuf);
    return status;
}

/* After the test: "?value", "?{value}", "?{value1}:{value2}",
 * "?{value1}:value2", ":value" or ":{value}". */
static int config_expand_choice(struct config_expand *ex, struct config_span span, int truth,
                                struct evbuffer *out, int depth, struct config_span whole)
{
    char op = span.text[0];
    struct config_span first, second = {"", 0};
    int has_second = 0;

    struct config_span peek;

    span.text++;
    span.len--;
    peek = span;
    config_skip_space(&peek);
    if (peek.len > 0 && peek.text[0] == '{') {
        span = peek;
        if (config_take_braced(&span, &first) < 0)
            return config_expand_fail(ex, "truncated macro reference", whole.text, whole.len);
        if (op == '?' && span.len > 0 && span.text[0] == ':') {
            span.text++;
            span.len--;
            config_skip_space(&span);
            second = span;
            has_second = 1;
            if (span.len > 0 && span.text[0] == '{' &&
                (config_take_braced(&span, &second) < 0 || span.len > 0))
                return config_expand_fail(ex, "bad macro reference", whole.text, whole.len);
        } else if (span.len > 0) {
            return config_expand_fail(ex, "bad macro reference", whole.text, whole.len);
        }
    } else {
        /* The legacy form (Postfix 2.2): the rest, as it is. */
        first = span;
    }
    if (op == ':')
        truth = !truth;
    if (truth)
        return config_expand_text(ex, first.text, first.len, out, depth + 1);
    if (has_second)
        return config_expand_text(ex, second.text, second.len, out, depth + 1);
    return 0;
}

/* Inside ${...} or $(...): a name, or a name or a relational expression
 * followed by a choice (postconf(5)). */
static int config_expand_braced(struct config_expand *ex, const char *text, size_t len,
                                struct evbuffer *out, int depth)
{
    struct config_span whole = {text, len};
    struct config_span span = whole;
    int truth = 0;
    int status;

    config_skip_space(&span);
    if (span.len > 0 && span.text[0] == '{') {
        if (config_relation(ex, &span, depth, &truth, whole) < 0)
            return -1;
        /* Postfix: a bare relational expression is "true" or empty. */
        if (span.len == 0) {
            if (truth)
                evbuffer_add(out, "true", 4);
            return 0;
        }
        if (span.text[0] != '?' && span.text[0] != ':')
            return config_expand_fail(ex, "bad relational expression", text, len);
        return config_expand_choice(ex, span, truth, out, depth, whole);
    }
    /* Postfix allows white space around the name inside ${...}. */
    const char *name = span.text;
    size_t namelen = 0;
    while (namelen < span.len && (isalnum((unsigned char)name[namelen]) || name[namelen] == '_'))
        namelen++;
    if (namelen == 0)
        return config_expand_fail(ex, "empty macro name", text, len);
    span.text += namelen;
    span.len -= namelen;
    config_skip_space(&span);
    if (span.len == 0)
        return config_expand_name(ex, name, namelen, out, depth);
    if (span.text[0] != '?' && span.text[0] != ':')
        return config_expand_fail(ex, "bad macro reference", text, len);

    struct evbuffer *value = evbuffer_new();
    if (value == NULL)
        msg_fatal("out of memory allocating a buffer");
    status = config_expand_name(ex, name, namelen, value, depth);
    truth = evbuffer_get_length(value) > 0;
    evbuffer_free(value);
    if (status < 0)
        return -1;
    return config_expand_choice(ex, span, truth, out, depth, whole);
}

/* One reference after a bare '$' at text; *used gets its length. */
static int config_expand_ref(struct config_expand *ex, const char *text, size_t len,
                             struct evbuffer *out, int depth, size_t *used)
{
    if (len > 0 && (text[0] == '{' || text[0] == '(')) {
        char open = text[0];
        char close = open == '{' ? '}' : ')';
        int level = 1;
        size_t i;
        for (i = 1; i < len && level > 0; i++) {
            if (text[i] == open)
                level++;
            else if (text[i] == close)
                level--;
        }
        if (level > 0)
            return config_expand_fail(ex, "truncated macro reference", text, len);
        *used = i;
        return config_expand_braced(ex, text + 1, i - 2, out, depth);
    }
    size_t namelen = 0;
    while (namelen < len && (isalnum((unsigned char)text[namelen]) || text[namelen] == '_'))
        namelen++;
    if (namelen == 0)
        return config_expand_fail(ex, "empty macro name", text, len);
    *used = namelen;
    return config_expand_name(ex, text, namelen, out, depth);
}

static int config_expand_text(struct config_expand *ex, const char *text, size_t len,
                              struct evbuffer *out, int depth)
{
    size_t i = 0;

    if (depth > CONFIG_DEPTH_MAX)
        return config_expand_fail(ex, "macro expansion nested too deeply (a loop?)", text, len);
    while (i < len) {
        const char *dollar = memchr(text + i, '$', len - i);
        size_t plain = dollar ? (size_t)(dollar - (text + i)) : len - i;
        size_t used = 0;

        evbuffer_add(out, text + i, plain);
        i += plain;
        if (i >= len)
            break;
        if (i + 1 < len && text[i + 1] == '$') {
            evbuffer_add(out, "$", 1);
            i += 2;
            continue;
        }
        if (config_expand_ref(ex, text + i + 1, len - i - 1, out, depth, &used) < 0)
            return -1;
        i += 1 + used;
        if (evbuffer_get_length(out) > CONFIG_EXPAND_MAX)
            return config_expand_fail(ex, "macro expansion too long", text, len);
    }
    return 0;
}

int config_lookup(struct config *config, const char *name, const char **value, char *err,
                  size_t errlen)
{
    struct config_entry *entry = config_find(config, name);
    struct config_expand ex = {config, name, err, errlen};

    *value = NULL;
    if (entry == NULL)
        return 0;
    if (entry->expanded == NULL) {
        struct evbuffer *out = evbuffer_new();
        if (out == NULL)
            msg_fatal("out of memory allocating a buffer");
        if (config_expand_text(&ex, entry->raw, strlen(entry->raw), out, 0) < 0) {
            evbuffer_free(out);
            return -1;
        }
        size_t len = evbuffer_get_length(out);
        /* evbuffer_pullup() of an empty buffer is NULL. */
        entry->expanded = len ? xstrndup((const char *)evbuffer_pullup(out, -1), len) : xstrdup("");
        evbuffer_free(out);
    }
    *value = entry->expanded;
    return 1;
}

const char *config_get(struct config *config, const char *name)
{
    const char *value;
    char err[512];

    if (config_lookup(config, name, &value, err, sizeof(err)) < 0) {
        msg_warn("%s", err);
        return NULL;
    }
    return value;
}

const char *config_get_raw(const struct config *config, const char *name)
{
    const struct config_entry *entry = config_find(config, name);
    return entry ? entry->raw : NULL;
}

int config_line(const struct config *config, const char *name)
{
    const struct config_entry *entry = config_find(config, name);
    return entry ? entry->line : 0;
}

const char *config_file(const struct config *config)
{
    return config->file;
}

void config_walk(const struct config *config,
                 void (*visit)(void *ctx, const char *name, const char *raw_value, int line),
                 void *ctx)
{
    for (size_t i = 0; i < config->count; i++)
        if (config->entries[i].line > 0)
            visit(ctx, config->entries[i].name, config->entries[i].raw, config->entries[i].line);
}
