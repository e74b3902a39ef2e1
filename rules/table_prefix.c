/*
 * table_prefix.c - the literal text an anchored pattern's every match must
 * start with, so a pcre:/regexp: lookup can skip, with a byte compare, a
 * rule whose regex cannot match (a header_checks table of 1,000
 * "/^Name: .../" rules then costs a few regex runs per header, not 1,000).
 *
 * Soundness over reach: a prefix is taken only from "^" (or a pattern the
 * caller knows is anchored) followed by plain characters, and only when
 * nothing later in the pattern can make a match start elsewhere: no
 * top-level '|', no inline option or verb, no \Q, no bracket expression
 * with a backslash or a nested '['. Anything not understood gives no
 * prefix, which only costs speed. The callers refuse flags that change
 * what '^' or a plain character means (multi-line, extended/x, basic
 * regexp). Prefix characters are ASCII only, so caseless comparison is
 * ASCII folding, which is what PCRE2 without UTF and glibc regex in the C
 * locale (scand never calls setlocale) do.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/table_internal.h"
#include "util/xalloc.h"

/* Characters that stand for themselves unescaped in PCRE2 (without x)
 * and in POSIX ERE. */
static int plain_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr(" -:_/@=,;\"'<>!%&~#", ch) != NULL);
}

/* Punctuation that is literal after a backslash in both dialects (not
 * \< \> \` \', which are GNU regex anchors). */
static int escaped_literal(int ch)
{
    return ch != 0 && strchr("./-:[](){}*+?|^$\\@=,;!#%&\"~_", ch) != NULL;
}

static int quantifier(int ch)
{
    return ch == '?' || ch == '*' || ch == '+' || ch == '{';
}

/* Skip a bracket expression at p ('['); NULL when it holds a backslash or
 * a '[' (escapes and [:class:] differ between the dialects: give up). */
static const char *skip_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    for (; *p != ']'; p++) {
        if (*p == 0 || *p == '\\' || *p == '[')
            return NULL;
    }
    return p + 1;
}

/* The shared walk of rest_is_safe() and pcre_top_level_safe(): 1 when p
 * has no top-level '|', no escape in bad_escapes (\Q always: its literal
 * text would be read as syntax), no group but plain, (?:, lookaround and
 * named ones (inline options, comments, verbs: give up), and, when
 * balanced, no group left open. skip reads the dialect's bracket
 * expressions. */
static int top_level_safe(const char *p, const char *bad_escapes, const char *(*skip)(const char *),
                          int balanced)
{
    int depth = 0;

    while (*p) {
        switch (*p) {
        case '\\':
            if (p[1] == 0 || strchr(bad_escapes, p[1]) != NULL)
                return 0;
            p += 2;
            continue;
        case '[':
            if ((p = skip(p)) == NULL)
                return 0;
            continue;
        case '(':
            if (p[1] == '*' || (p[1] == '?' && strchr(":=!<", p[2] == 0 ? '?' : p[2]) == NULL))
                return 0;
            depth++;
            break;
        case ')':
            if (--depth < 0)
                return 0;
            break;
        case '|':
            if (depth == 0)
                return 0;
            break;
        default:
            break;
        }
        p++;
    }
    return !balanced || depth == 0;
}

/* 1 when the rest of a pattern (after the literal run) has no top-level
 * alternative and nothing else that could move the match start. */
static int rest_is_safe(const char *p)
{
    return top_level_safe(p, "Q", skip_bracket, 0);
}

size_t table_pattern_prefix(const char *pattern, int anchored, struct tbuf *out)
{
    const char *p = pattern;
    size_t last = 0; /* out->len before the last literal character */

    tbuf_reset(out);
    if (*p == '^')
        p++;
    else if (!anchored)
        return 0;
    for (;;) {
        if (plain_char((unsigned char)*p)) {
            last = out->len;
            tbuf_addch(out, *p++);
        } else if (*p == '\\' && escaped_literal((unsigned char)p[1])) {
            last = out->len;
            tbuf_addch(out, p[1]);
            p += 2;
        } else {
            break;
        }
    }
    /* "^Subjec?t": a quantifier makes the last character optional. */
    if (quantifier((unsigned char)*p))
        out->len = last;
    if (out->len == 0 || !rest_is_safe(p)) {
        tbuf_reset(out);
        return 0;
    }
    out->s[out->len] = 0;
    return out->len;
}

static int fold(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

int table_prefix_match(const char *prefix, size_t len, int caseless, const char *key)
{
    if (!caseless)
        return strncmp(key, prefix, len) == 0;
    for (size_t i = 0; i < len; i++) {
        if (fold((unsigned char)key[i]) != fold((unsigned char)prefix[i]))
            return 0;
    }
    return 1;
}

int table_prefix_byte(int ch)
{
    return fold(ch);
}

struct table_byte_index {
    uint32_t start[257];
    uint32_t *items;
};

struct table_byte_index *table_byte_index_new(const unsigned char *first, size_t n)
{
    struct table_byte_index *index = xcalloc(1, sizeof(*index));
    uint32_t fill[256];

    index->items = xcalloc(n ? n : 1, sizeof(*index->items));
    for (size_t i = 0; i < n; i++)
        index->start[first[i] + 1]++;
    for (int b = 0; b < 256; b++)
        index->start[b + 1] += index->start[b];
    memcpy(fill, index->start, sizeof(fill));
    for (size_t i = 0; i < n; i++)
        index->items[fill[first[i]]++] = (uint32_t)i;
    return index;
}

const uint32_t *table_byte_index_get(const struct table_byte_index *index, int byte, size_t *count)
{
    *count = index->start[byte + 1] - index->start[byte];
    return index->items + index->start[byte];
}

void table_byte_index_free(struct table_byte_index *index)
{
    if (index == NULL)
        return;
    free(index->items);
    free(index);
}

/* ---- a literal every match contains (pcre only) ----
 *
 * For body_checks-style patterns that are not anchored: the longest run of
 * plain characters that the pattern's top level requires, so a lookup can
 * skip the regex when the key lacks it. Same soundness rule as the prefix:
 * anything not understood ends the analysis (or gives nothing), which only
 * costs speed. PCRE2 syntax only: inside a bracket a backslash escapes,
 * which POSIX regexp does not do. */

/* Skip a PCRE2 bracket expression at p ('['): "]" first is literal, a
 * backslash escapes the next byte, "[:name:]" nests. NULL when unclosed. */
static const char *skip_pcre_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p != ']') {
        if (*p == 0)
            return NULL;
        if (*p == '\\') {
            if (p[1] == 0)
                return NULL;
            p += 2;
        } else if (p[0] == '[' && p[1] == ':') {
            const char *end = strstr(p + 2, ":]");
            if (end == NULL)
                return NULL;
            p = end + 2;
        } else {
            p++;
        }
    }
    return p + 1;
}

/* 1 when the pattern has no top-level '|' and nothing that could change
 * how its top-level characters read: no \Q...\E, no \c (it takes the next
 * byte, '(' or '|' included), no inline option, comment or verb anywhere
 * ((?x) would make white space and '#' meaningless). */
static int pcre_top_level_safe(const char *p)
{
    return top_level_safe(p, "QEc", skip_pcre_bracket, 1);
}

/* Skip a group at p ('('), nested groups and brackets included; NULL when
 * unbalanced. */
static const char *skip_group(const char *p)
{
    int depth = 0;

    while (*p) {
        if (*p == '\\') {
            if (p[1] == 0)
                return NULL;
            p += 2;
            continue;
        }
        if (*p == '[') {
            if ((p = skip_pcre_bracket(p)) == NULL)
                return NULL;
            continue;
        }
        if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* Escapes that match one character of a class, or nothing (an assertion),
 * and take no argument: a literal run ends there and goes on after it. */
static int simple_escape(int ch)
{
    return ch != 0 && strchr("dDsSwWbBhHvVRAzZGKX", ch) != NULL;
}

/* The run collected so far, and the longest one finished. */
struct literal_runs {
    struct tbuf *best;
    struct tbuf run;
};

static void end_run(struct literal_runs *r)
{
    if (r->run.len > r->best->len) {
        tbuf_reset(r->best);
        tbuf_add(r->best, r->run.s, r->run.len);
    }
    tbuf_reset(&r->run);
}

size_t table_pattern_required(const char *pattern, struct tbuf *out)
{
    struct literal_runs r = {out, {0}};
    const char *p = pattern;
    int literal = 0; /* the last token was a character of the run */

    tbuf_reset(out);
    if (!pcre_top_level_safe(pattern))
        return 0;
    while (*p) {
        if (plain_char((unsigned char)*p) || (*p == '\\' && escaped_literal((unsigned char)p[1]))) {
            tbuf_addch(&r.run, *p == '\\' ? p[1] : *p);
            p += *p == '\\' ? 2 : 1;
            literal = 1;
            continue;
        }
        if (quantifier((unsigned char)*p)) {
            /* "abc?", "abc*", "abc+", "abc{0,2}": the last character may be
             * absent or repeated, so the run ends before it. A '{' that is
             * not a quantifier is a literal: either way, stop there. */
            if (literal && r.run.len > 0)
                r.run.len--;
            end_run(&r);
            literal = 0;
            if (*p == '{')
                break;
            p++;
            continue;
        }
        end_run(&r);
        literal = 0;
        if (*p == '\\' && simple_escape((unsigned char)p[1]))
            p += 2;
        else if (*p == '.' || *p == '^' || *p == '$')
            p++;
        else if (*p == '[')
            p = skip_pcre_bracket(p);
        else if (*p == '(')
            p = skip_group(p);
        else
            break; /* an escape with an argument, a byte we do not know */
        if (p == NULL)
            break;
    }
    end_run(&r);
    tbuf_free(&r.run);
    if (out->len > 0)
        out->s[out->len] = 0;
    return out->len;
}
