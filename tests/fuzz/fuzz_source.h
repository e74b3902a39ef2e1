/*
 * fuzz_source.h - what the rules targets share: a directory of fixed small
 * tables written once per process, and a rules_source over "name=value"
 * pairs, so content_rules_load()/mime_rules_load() see a configuration as
 * the daemon gives it.
 */
#ifndef SCAND_FUZZ_SOURCE_H
#define SCAND_FUZZ_SOURCE_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/rules.h"

#define FUZZ_SOURCE_MAX 16

struct fuzz_source {
    const char *names[FUZZ_SOURCE_MAX];
    char *values[FUZZ_SOURCE_MAX];
    int count;
};

__attribute__((unused)) static const char *fuzz_source_get(void *ctx, const char *name)
{
    struct fuzz_source *s = ctx;

    for (int i = 0; i < s->count; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->values[i];
    return NULL;
}

__attribute__((unused)) static void fuzz_source_where(void *ctx, const char *name, char *buf,
                                                      size_t len)
{
    (void)ctx;
    snprintf(buf, len, "fuzz.cf (%s)", name);
}

static void fuzz_source_set(struct fuzz_source *s, const char *name, const char *value)
{
    if (s->count == FUZZ_SOURCE_MAX)
        abort();
    s->names[s->count] = name;
    s->values[s->count] = strdup(value);
    s->count++;
}

/* A table file TYPE:DIR/NAME holding text; its spec set as parameter. */
static void fuzz_source_table(struct fuzz_source *s, const char *dir, const char *param,
                              const char *type, const char *text)
{
    char path[256], spec[300];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, param);
    fp = fopen(path, "w");
    if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) != 0)
        abort();
    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    fuzz_source_set(s, param, spec);
}

/* A fresh directory for this process's tables. */
static void fuzz_source_dir(char *dir, size_t len, const char *what)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, len, "%s/scand-fuzz-%s.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp", what);
    if (mkdtemp(dir) == NULL)
        abort();
}

#endif
