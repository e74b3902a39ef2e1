/*
 * table_indexed.c - hash:, btree:, lmdb:, cdb:, texthash: from the postmap
 * source text.
 *
 * As postmap(1) builds the database (and as texthash: reads the file):
 * the key is the text up to the first white space, the value the rest with
 * surrounding white space trimmed; keys are folded to lower case, and so is
 * every query. A line without a value is skipped with a warning, and a
 * duplicate key keeps the first value with a warning [checked against
 * Postfix 3.7: postmap -q with texthash: and hash:].
 */
#include <stdlib.h>
#include <string.h>

#include "rules/table_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

struct indexed_table {
    struct table_index *index;
    const char *path; /* the table's own copy (struct table) */
};

static int is_blank(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static void trim_right(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && is_blank((unsigned char)s[n - 1]))
        s[--n] = 0;
}

/* Split "key   value  " in place; returns 0 when either part is empty. */
static int split_key_value(char *line, char **key, char **value)
{
    char *cp = line;

    while (*cp && !is_blank((unsigned char)*cp))
        cp++;
    if (*cp)
        *cp++ = 0;
    while (is_blank((unsigned char)*cp))
        cp++;
    trim_right(cp);
    *key = line;
    *value = cp;
    return **key != 0 && **value != 0;
}

static void indexed_add_line(struct indexed_table *t, struct table_lines *lines)
{
    char *key;
    char *value;

    if (!split_key_value(lines->line.s, &key, &value)) {
        msg_warn("%s, line %d: expected format: key whitespace value -- ignoring this line",
                 lines->path, lines->first_line);
        return;
    }
    if (key[strlen(key) - 1] == ':')
        msg_warn("%s, line %d: record is in \"key: value\" format; is this an alias file?",
                 lines->path, lines->first_line);
    table_fold(key);
    if (!table_index_put(t->index, key, value, lines->first_line, 0))
        msg_warn("%s, line %d: duplicate entry: \"%s\"", lines->path, lines->first_line, key);
}

static int indexed_lookup(struct table *table, const char *key, struct table_result *result)
{
    struct indexed_table *t = table->priv;
    char *folded = xstrdup(key);
    int line = 0;

    table_fold(folded);
    const char *value = table_index_get(t->index, folded, &line);
    free(folded);
    if (value == NULL)
        return 0;
    result->value = xstrdup(value);
    result->where = table_where(t->path, line);
    return 1;
}

static void indexed_free(void *priv)
{
    struct indexed_table *t = priv;
    table_index_free(t->index);
    free(t);
}

static const struct table_ops indexed_ops = {indexed_lookup, indexed_free};

int table_open_indexed(struct table *table, const char *name, char *err, size_t errlen)
{
    struct table_lines lines;

    (void)name;
    if (table_lines_open(&lines, table->path, err, errlen) < 0)
        return -1;
    struct indexed_table *t = xcalloc(1, sizeof(*t));
    t->index = table_index_new();
    t->path = table->path;
    while (table_lines_next(&lines))
        indexed_add_line(t, &lines);
    table_lines_close(&lines);
    table->kind = TABLE_KIND_INDEXED;
    table->ops = &indexed_ops;
    table->priv = t;
    return 0;
}
