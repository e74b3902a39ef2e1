/*
 * table_inline.c - inline:{ key=value, { key = text with spaces } } and
 * static:value, static:{ text with spaces }.
 *
 * Parsed as Postfix parses them [checked against postmap -q]: entries are
 * separated by commas or white space, so an unbraced "a = b" is an error
 * ("missing '='"), while inside braces the key and value are trimmed and
 * the value may hold spaces. Keys and queries are folded; a repeated key
 * keeps the last value (unlike the file tables, which keep the first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/table_internal.h"
#include "util/xalloc.h"

#define INLINE_NEED "need \"inline:{name=value...}\""

static int is_blank(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Length of the balanced {...} group at text, 0 when never closed. */
static size_t brace_len(const char *text)
{
    int depth = 0;
    for (const char *cp = text; *cp; cp++) {
        if (*cp == '{')
            depth++;
        else if (*cp == '}' && --depth == 0)
            return (size_t)(cp - text) + 1;
    }
    return 0;
}

static char *trim(char *s)
{
    size_t n;

    while (is_blank((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Strip the braces of "{ text }" in place, as Postfix's extpar(). On error
 * returns -1 with the reason in why. */
static int unbrace(char **text, char *why, size_t whylen)
{
    char *cp = *text;
    size_t len = brace_len(cp);

    if (len == 0) {
        snprintf(why, whylen, "missing '}' in \"%s\"", cp);
        return -1;
    }
    if (cp[len] != 0) {
        snprintf(why, whylen, "syntax error after '}' in \"%s\"", cp);
        return -1;
    }
    cp[len - 1] = 0;
    *text = trim(cp + 1);
    return 0;
}

/* Next token separated by commas/white space; braces group. */
static char *next_token(char **cursor)
{
    char *cp = *cursor;
    int depth = 0;

    while (*cp == ',' || is_blank((unsigned char)*cp))
        cp++;
    if (*cp == 0)
        return NULL;
    char *start = cp;
    for (; *cp; cp++) {
        if (*cp == '{')
            depth++;
        else if (*cp == '}' && depth > 0)
            depth--;
        else if (depth == 0 && (*cp == ',' || is_blank((unsigned char)*cp)))
            break;
    }
    if (*cp)
        *cp++ = 0;
    *cursor = cp;
    return start;
}

/* "name = value" -> name, value; NULL or the reason it is wrong. */
static const char *split_name_value(char *text, char **name, char **value)
{
    char *np = text;
    char *ep;
    char *cp;

    while (is_blank((unsigned char)*np))
        np++;
    if (*np == 0)
        return "missing attribute name";
    for (ep = np; *ep && *ep != '=' && !is_blank((unsigned char)*ep); ep++)
        ;
    for (cp = ep; is_blank((unsigned char)*cp); cp++)
        ;
    if (*cp != '=')
        return "missing '=' after attribute name";
    *ep = 0;
    *name = np;
    *value = trim(cp + 1);
    return NULL;
}

struct inline_table {
    struct table_index *index;
};

static int inline_lookup(struct table *table, const char *key, struct table_result *result)
{
    struct inline_table *t = table->priv;
    char *folded = xstrdup(key);

    table_fold(folded);
    const char *value = table_index_get(t->index, folded, NULL);
    free(folded);
    if (value == NULL)
        return 0;
    result->value = xstrdup(value);
    result->where = xstrdup(table->spec);
    return 1;
}

static void inline_free(void *priv)
{
    struct inline_table *t = priv;
    table_index_free(t->index);
    free(t);
}

static const struct table_ops inline_ops = {inline_lookup, inline_free};

/* Fill index from the text inside the outer braces; NULL or the reason. */
static const char *inline_parse(char *body, struct table_index *index, char *why, size_t whylen)
{
    char *cursor = body;
    char *token;
    char *name;
    char *value;
    const char *bad;
    int count = 0;

    while ((token = next_token(&cursor)) != NULL) {
        if (*token == '{' && unbrace(&token, why, whylen) < 0)
            return why;
        if ((bad = split_name_value(token, &name, &value)) != NULL)
            return bad;
        table_fold(name);
        table_index_put(index, name, value, 0, 1);
        count++;
    }
    return count == 0 ? "bad syntax" : NULL;
}

int table_open_inline(struct table *table, const char *name, char *err, size_t errlen)
{
    char *copy = xstrdup(name);
    char *body = copy;
    char why[512];
    const char *bad = NULL;
    struct table_index *index = table_index_new();

    if (*body != '{' || unbrace(&body, why, sizeof(why)) < 0)
        bad = "bad syntax";
    else
        bad = inline_parse(body, index, why, sizeof(why));
    if (bad != NULL) {
        snprintf(err, errlen, "%s: \"%s\"; " INLINE_NEED, bad, table->spec);
        table_index_free(index);
        free(copy);
        return -1;
    }
    free(copy);
    struct inline_table *t = xcalloc(1, sizeof(*t));
    t->index = index;
    table->kind = TABLE_KIND_INDEXED;
    table->ops = &inline_ops;
    table->priv = t;
    return 0;
}

struct static_table {
    char *value;
};

static int static_lookup(struct table *table, const char *key, struct table_result *result)
{
    struct static_table *t = table->priv;

    (void)key;
    result->value = xstrdup(t->value);
    result->where = xstrdup(table->spec);
    return 1;
}

static void static_free(void *priv)
{
    struct static_table *t = priv;
    free(t->value);
    free(t);
}

static const struct table_ops static_ops = {static_lookup, static_free};

int table_open_static(struct table *table, const char *name, char *err, size_t errlen)
{
    char *copy = xstrdup(name);
    char *value = copy;
    char why[512];

    if (*value == '{' && unbrace(&value, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "bad static:name syntax: %s", why);
        free(copy);
        return -1;
    }
    struct static_table *t = xcalloc(1, sizeof(*t));
    t->value = xstrdup(value);
    free(copy);
    table->kind = TABLE_KIND_STATIC;
    table->ops = &static_ops;
    table->priv = t;
    return 0;
}

int table_inline_rules(const char *type, const char *name, struct tbuf *text, char *err,
                       size_t errlen)
{
    char *copy = xstrdup(name);
    char *body = copy;
    char *token;
    char why[512];

    if (unbrace(&body, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s map: %s", type, why);
        free(copy);
        return -1;
    }
    while ((token = next_token(&body)) != NULL) {
        if (*token != '{') {
            snprintf(err, errlen, "%s map: no '{' at start of text in \"%s\"", type, token);
            free(copy);
            return -1;
        }
        if (unbrace(&token, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s map: %s", type, why);
            free(copy);
            return -1;
        }
        tbuf_add(text, token, strlen(token));
        tbuf_addch(text, '\n');
    }
    free(copy);
    return 0;
}
