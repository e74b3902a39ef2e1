/*
 * rbl_reply.c - $name expansion of RBL reply templates (default_rbl_reply,
 * rbl_reply_maps), as Postfix's mac_parse()/mac_expand() do it with
 * MAC_EXP_FLAG_NONE: one level only (a value is never expanded again, it
 * may come from a DNS TXT record), and values filtered through
 * smtpd_expansion_filter.
 *
 * Supported: $name, ${name}, $(name), $$, ${name?text}, ${name:text},
 * ${name?{text}}, ${name:{text}}, ${name?{text1}:{text2}}. Errors, as in
 * Postfix: an unbalanced bracket, an empty or malformed name, garbage after
 * a {text} operand, and an unknown name expanded unconditionally (in
 * ?/: tests an unknown name counts as empty). The logical expressions of
 * Postfix 3.0 (${{a} == {b} ? ...}) are refused as a syntax error: nobody
 * writes them in an RBL reply, and a refused map template falls back to
 * default_rbl_reply, while the default itself is checked at load.
 *
 * The filter is smtpd_expansion_filter's default (tab, space and printable
 * ASCII); scand has no parameter for it because its value would go through
 * the configuration's own $name expansion.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_internal.h"
#include "util/xalloc.h"

#define RBL_EXPAND_DEPTH 100

struct rbl_out {
    char *buf;
    size_t len;
    size_t size;
};

struct rbl_expand {
    const char *(*lookup)(void *ctx, const char *name);
    void *ctx;
    struct rbl_out out;
    char *why;
    size_t whylen;
    int depth;
};

static void rbl_out_add(struct rbl_out *out, const char *text, size_t len)
{
    if (out->len + len + 1 > out->size) {
        out->size = (out->len + len + 1) * 2;
        out->buf = xrealloc(out->buf, out->size);
    }
    memcpy(out->buf + out->len, text, len);
    out->len += len;
    out->buf[out->len] = '\0';
}

/* smtpd_expansion_filter: what is not allowed becomes '_'. */
static void rbl_out_add_filtered(struct rbl_out *out, const char *value)
{
    size_t start = out->len;

    rbl_out_add(out, value, strlen(value));
    for (size_t i = start; i < out->len; i++) {
        unsigned char ch = (unsigned char)out->buf[i];
        if (ch != '\t' && (ch < 0x20 || ch > 0x7e))
            out->buf[i] = '_';
    }
}

static int rbl_fail(struct rbl_expand *ex, const char *what, const char *text, size_t len)
{
    snprintf(ex->why, ex->whylen, "%s: \"%.*s\"", what, (int)(len > 200 ? 200 : len), text);
    return -1;
}

static int rbl_expand_text(struct rbl_expand *ex, const char *text, size_t len);

/* A {text} operand: *cp at '{'; on return *cp is past '}' and blanks. */
static int rbl_curly(struct rbl_expand *ex, const char **cp, const char *end, const char **payload,
                     size_t *plen)
{
    const char *p = *cp + 1;
    int level = 1;

    for (; p < end; p++) {
        if (*p == '{')
            level++;
        else if (*p == '}' && --level == 0)
            break;
    }
    if (p >= end)
        return rbl_fail(ex, "unbalanced {} in attribute expression", *cp, (size_t)(end - *cp));
    *payload = *cp + 1;
    *plen = (size_t)(p - *payload);
    p++;
    while (p < end && strchr(" \t\r\n", *p) != NULL)
        p++;
    *cp = p;
    return 0;
}

/* The operand after '?' or ':': {text} or the rest of the expression. */
static int rbl_operand(struct rbl_expand *ex, const char **cp, const char *end,
                       const char **payload, size_t *plen)
{
    const char *p = *cp + strspn(*cp, " \t\r\n");

    if (p < end && *p == '{') {
        *cp = p;
        return rbl_curly(ex, cp, end, payload, plen);
    }
    *payload = *cp;
    *plen = (size_t)(end - *cp);
    *cp = end;
    return 0;
}

/* The inside of ${...} or $(...). */
static int rbl_expand_expr(struct rbl_expand *ex, const char *expr, size_t len)
{
    const char *end = expr + len;
    const char *cp = expr;
    const char *payload;
    size_t plen;
    const char *value;
    char *name;
    char op = '\0';

    if (expr[strspn(expr, " \t\r\n")] == '{')
        return rbl_fail(ex, "logical expressions are not supported in RBL reply templates", expr,
                        len);
    while (cp < end && *cp != '?' && *cp != ':') {
        if (!isalnum((unsigned char)*cp) && *cp != '_')
            return rbl_fail(ex, "attribute name syntax error", expr, len);
        cp++;
    }
    if (cp == expr)
        return rbl_fail(ex, "empty macro name", expr, len);
    name = xstrndup(expr, (size_t)(cp - expr));
    value = ex->lookup(ex->ctx, name);
    free(name);
    if (cp < end)
        op = *cp++;
    if (op == '\0') {
        if (value == NULL)
            return rbl_fail(ex, "undefined macro name", expr, len);
        rbl_out_add_filtered(&ex->out, value);
        return 0;
    }
    if (op == '?') {
        if (rbl_operand(ex, &cp, end, &payload, &plen) < 0)
            return -1;
        if (value != NULL && *value != '\0' && rbl_expand_text(ex, payload, plen) < 0)
            return -1;
        if (cp == end)
            return 0;
        if (*cp != ':')
            return rbl_fail(ex, "\":\" expected", expr, len);
        cp++;
    }
    if (rbl_operand(ex, &cp, end, &payload, &plen) < 0)
        return -1;
    if ((value == NULL || *value == '\0') && rbl_expand_text(ex, payload, plen) < 0)
        return -1;
    if (cp != end)
        return rbl_fail(ex, "unexpected input", expr, len);
    return 0;
}

/* mac_parse(): literal text, $$, $name, ${...}, $(...). */
static int rbl_expand_text(struct rbl_expand *ex, const char *text, size_t len)
{
    const char *end = text + len;
    const char *cp = text;
    int rc = 0;

    if (++ex->depth > RBL_EXPAND_DEPTH) {
        ex->depth--;
        return rbl_fail(ex, "unreasonable macro call nesting", text, len);
    }
    while (rc == 0 && cp < end) {
        const char *dollar = memchr(cp, '$', (size_t)(end - cp));
        const char *vp;
        if (dollar == NULL) {
            rbl_out_add(&ex->out, cp, (size_t)(end - cp));
            break;
        }
        rbl_out_add(&ex->out, cp, (size_t)(dollar - cp));
        vp = dollar + 1;
        if (vp < end && *vp == '$') {
            rbl_out_add(&ex->out, "$", 1);
            cp = vp + 1;
        } else if (vp < end && (*vp == '{' || *vp == '(')) {
            char open = *vp;
            char close = open == '{' ? '}' : ')';
            const char *start = ++vp;
            int level = 1;
            for (; vp < end; vp++) {
                if (*vp == open)
                    level++;
                else if (*vp == close && --level == 0)
                    break;
            }
            if (vp >= end)
                rc = rbl_fail(ex, "truncated macro reference", dollar, (size_t)(end - dollar));
            else if (vp == start)
                rc = rbl_fail(ex, "empty macro name", dollar, (size_t)(vp + 1 - dollar));
            else
                rc = rbl_expand_expr(ex, start, (size_t)(vp - start));
            cp = vp + 1;
        } else {
            const char *start = vp;
            while (vp < end && (isalnum((unsigned char)*vp) || *vp == '_'))
                vp++;
            if (vp == start)
                rc = rbl_fail(ex, "empty macro name", dollar, (size_t)(end - dollar));
            else
                rc = rbl_expand_expr(ex, start, (size_t)(vp - start));
            cp = vp;
        }
    }
    ex->depth--;
    return rc;
}

int rules_rbl_expand(const char *template, const char *(*lookup)(void *ctx, const char *name),
                     void *ctx, char **out, char *why, size_t whylen)
{
    struct rbl_expand ex;

    memset(&ex, 0, sizeof(ex));
    ex.lookup = lookup;
    ex.ctx = ctx;
    ex.why = why;
    ex.whylen = whylen;
    rbl_out_add(&ex.out, "", 0);
    if (rbl_expand_text(&ex, template, strlen(template)) < 0) {
        free(ex.out.buf);
        *out = NULL;
        return -1;
    }
    *out = ex.out.buf;
    return 0;
}
