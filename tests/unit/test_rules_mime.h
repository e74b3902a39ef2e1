/*
 * test_rules_mime.h - what test_rules_mime.c and test_rules_mime_broken.c
 * share: a fake rules_source from "name = value" lines, running one
 * message through mime_rules_check with the explain lines collected, and
 * labelled failures. Header-only: each test is its own program.
 */
#ifndef SCAND_TESTS_TEST_RULES_MIME_H
#define SCAND_TESTS_TEST_RULES_MIME_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/mime_rules.h"
#include "rules/rules.h"

#define MT_UNUSED __attribute__((unused))

static MT_UNUSED char *mt_vasprintf(const char *fmt, va_list ap)
{
    va_list copy;
    int n;
    char *out;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    out = malloc((size_t)n + 1);
    assert_non_null(out);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    return out;
}

static MT_UNUSED __attribute__((format(printf, 1, 2))) char *mt_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *out;

    va_start(ap, fmt);
    out = mt_vasprintf(fmt, ap);
    va_end(ap);
    return out;
}

static MT_UNUSED __attribute__((format(printf, 2, 3))) void mt_fail(const char *label,
                                                                    const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = mt_vasprintf(fmt, ap);
    va_end(ap);
    fail_msg("[%s] %s", label, text);
    free(text);
}

static MT_UNUSED void mt_expect(const char *label, const char *field, const char *want,
                                const char *got)
{
    if (want == NULL && got == NULL)
        return;
    if (want == NULL || got == NULL || strcmp(want, got) != 0)
        mt_fail(label, "%s: got \"%s\", want \"%s\"", field, got ? got : "(null)",
                want ? want : "(null)");
}

static MT_UNUSED void mt_write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* ---- fake source: "name = value" lines; the last setting wins ---- */

struct mt_source {
    char *names[32];
    char *values[32];
    size_t count;
};

static MT_UNUSED void mt_source_parse(struct mt_source *src, const char *text)
{
    const char *cp = text;

    memset(src, 0, sizeof(*src));
    while (*cp && src->count < 32) {
        const char *end = strchr(cp, '\n');
        size_t len = end ? (size_t)(end - cp) : strlen(cp);
        char *line = strndup(cp, len);
        char *eq = strstr(line, " =");

        assert_non_null(line);
        if (eq != NULL) {
            *eq = '\0';
            src->names[src->count] = strdup(line);
            src->values[src->count] = strdup(eq[2] == ' ' ? eq + 3 : eq + 2);
        } else {
            src->names[src->count] = strdup(line);
            src->values[src->count] = NULL;
        }
        src->count++;
        free(line);
        cp += len;
        if (*cp == '\n')
            cp++;
    }
}

static MT_UNUSED void mt_source_free(struct mt_source *src)
{
    for (size_t i = 0; i < src->count; i++) {
        free(src->names[i]);
        free(src->values[i]);
    }
}

static MT_UNUSED const char *mt_get(void *ctx, const char *name)
{
    struct mt_source *src = ctx;

    for (size_t i = src->count; i-- > 0;)
        if (src->values[i] != NULL && strcmp(src->names[i], name) == 0)
            return src->values[i];
    return NULL;
}

static MT_UNUSED void mt_where(void *ctx, const char *name, char *buf, size_t len)
{
    struct mt_source *src = ctx;

    for (size_t i = src->count; i-- > 0;) {
        if (src->values[i] != NULL && strcmp(src->names[i], name) == 0) {
            snprintf(buf, len, "test.cf, line %zu", i + 1);
            return;
        }
    }
    snprintf(buf, len, "test.cf");
}

static MT_UNUSED struct mime_rules *mt_load(const char *config, char *err, size_t errlen)
{
    struct mt_source src;
    struct rules_source source = {mt_get, mt_where, &src};
    struct mime_rules *rules;

    mt_source_parse(&src, config);
    err[0] = '\0';
    rules = mime_rules_load(&source, err, errlen);
    mt_source_free(&src);
    return rules;
}

/* ---- running a message ---- */

struct mt_result {
    struct rules_verdict verdict;
    char **explain; /* "DEPTH text" */
    size_t explain_count;
};

static MT_UNUSED void mt_explain_line(void *ctx, int depth, const char *text)
{
    struct mt_result *r = ctx;

    r->explain = realloc(r->explain, (r->explain_count + 1) * sizeof(*r->explain));
    assert_non_null(r->explain);
    r->explain[r->explain_count++] = mt_asprintf("%d %s", depth, text);
}

/* "\n" to "\r\n" when crlf (the daemon's data has CRLF line ends). */
static MT_UNUSED char *mt_crlf(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len * 2 + 1);
    size_t used = 0;

    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            out[used++] = '\r';
        out[used++] = text[i];
    }
    out[used] = '\0';
    *out_len = used;
    return out;
}

/* Run data (len bytes) with config; fails the test when config does not
 * load. */
static MT_UNUSED void mt_run_data(const char *config, const char *data, size_t len,
                                  struct mt_result *r)
{
    char err[1024];
    struct mime_rules *rules = mt_load(config, err, sizeof(err));
    struct rules_explain explain = {mt_explain_line, r};

    memset(r, 0, sizeof(*r));
    if (rules == NULL)
        mt_fail("config", "%s", err);
    mime_rules_check(rules, data, len, &r->verdict, &explain);
    mime_rules_free(rules);
}

static MT_UNUSED void mt_run(const char *config, const char *message, int crlf, struct mt_result *r)
{
    size_t len = strlen(message);
    char *data = crlf ? mt_crlf(message, len, &len) : strdup(message);

    mt_run_data(config, data, len, r);
    free(data);
}

static MT_UNUSED int mt_has_note(const struct rules_verdict *v, const char *want)
{
    for (size_t i = 0; i < v->note_count; i++) {
        char *got = mt_asprintf("%s: %s", v->notes[i].kind, v->notes[i].text);
        int same = strcmp(got, want) == 0;
        free(got);
        if (same)
            return 1;
    }
    return 0;
}

static MT_UNUSED void mt_result_free(struct mt_result *r)
{
    rules_verdict_free(&r->verdict);
    for (size_t i = 0; i < r->explain_count; i++)
        free(r->explain[i]);
    free(r->explain);
}

#endif
