/*
 * table.c - open "type:name", dispatch lookups, notice changed files.
 *
 * Policy: a table is compiled once, at open; a bad line is an error for the
 * whole table (the caller keeps its old rules), except where Postfix only
 * warns and skips the line, which we mirror so the same file behaves the
 * same in both. table_changed() compares the file's identity with the one
 * read at open, so an edited table can be reloaded without a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules/table_internal.h"
#include "util/xalloc.h"

typedef int (*table_opener)(struct table *, const char *, char *, size_t);

struct table_type {
    const char *name;
    table_opener open;
    int has_file;
};

/* The indexed types all read the postmap source text: no database files. */
static const struct table_type table_types[] = {
    {"hash", table_open_indexed, 1},     {"btree", table_open_indexed, 1},
    {"lmdb", table_open_indexed, 1},     {"cdb", table_open_indexed, 1},
    {"texthash", table_open_indexed, 1}, {"pcre", table_open_pcre, 1},
    {"regexp", table_open_regexp, 1},    {"cidr", table_open_cidr, 1},
    {"inline", table_open_inline, 0},    {"static", table_open_static, 0},
};

static const struct table_type *table_type_find(const char *spec, size_t len)
{
    for (size_t i = 0; i < sizeof(table_types) / sizeof(table_types[0]); i++) {
        if (strlen(table_types[i].name) == len && strncmp(table_types[i].name, spec, len) == 0)
            return &table_types[i];
    }
    return NULL;
}

static void table_remember_file(struct table *table, const struct stat *st)
{
    table->dev = st->st_dev;
    table->ino = st->st_ino;
    table->size = st->st_size;
    table->mtime = st->st_mtim;
}

struct table *table_open(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    struct stat st;

    if (colon == NULL || colon == spec || colon[1] == 0) {
        snprintf(err, errlen, "open dictionary: expecting \"type:name\" form instead of \"%s\"",
                 spec);
        return NULL;
    }
    const struct table_type *type = table_type_find(spec, (size_t)(colon - spec));
    if (type == NULL) {
        snprintf(err, errlen, "unsupported table type: %s", spec);
        return NULL;
    }
    struct table *table = xcalloc(1, sizeof(*table));
    table->spec = xstrdup(spec);
    /* "pcre:{ {rule}, ... }" (Postfix 3.7) has its rules in the spec. */
    if (type->has_file && colon[1] != '{') {
        table->path = xstrdup(colon + 1);
        /* Stat before reading: an edit during the read then shows as a
         * change next time, never the reverse. */
        if (stat(table->path, &st) == 0)
            table_remember_file(table, &st);
    }
    if (type->open(table, colon + 1, err, errlen) < 0) {
        table->ops = NULL;
        table_free(table);
        return NULL;
    }
    return table;
}

void table_free(struct table *table)
{
    if (table == NULL)
        return;
    if (table->ops != NULL && table->ops->free != NULL)
        table->ops->free(table->priv);
    free(table->spec);
    free(table->path);
    free(table);
}

int table_lookup(struct table *table, const char *key, struct table_result *result)
{
    result->value = NULL;
    result->where = NULL;
    return table->ops->lookup(table, key, result);
}

void table_result_free(struct table_result *result)
{
    free(result->value);
    free(result->where);
    result->value = NULL;
    result->where = NULL;
}

enum table_kind table_kind(const struct table *table)
{
    return table->kind;
}

const char *table_spec(const struct table *table)
{
    return table->spec;
}

int table_changed(const struct table *table)
{
    struct stat st;

    if (table->path == NULL)
        return 0;
    if (stat(table->path, &st) < 0)
        return 1;
    return st.st_dev != table->dev || st.st_ino != table->ino || st.st_size != table->size ||
           st.st_mtim.tv_sec != table->mtime.tv_sec || st.st_mtim.tv_nsec != table->mtime.tv_nsec;
}
