/*
 * fuzz_table.h - what the table targets share: the input becomes a table
 * file of one type (or an inline: spec), is opened with table_open(), and,
 * when it compiles, answers a few fixed keys and one taken from the input.
 * One target per type (fuzz_table_TYPE.c) so each gets its own corpus.
 */
#ifndef SCAND_FUZZ_TABLE_H
#define SCAND_FUZZ_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/table.h"
#include "util/msg.h"

static const char *const fuzz_table_keys[] = {
    "user@example.com",
    "example.com",
    "sub.example.com",
    "192.0.2.1",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "",
    "a",
    "Subject: hello",
    "user+ext@example.com",
};

static void fuzz_table_lookup(struct table *table, const char *key)
{
    struct table_result result = {0};

    if (table_lookup(table, key, &result) != 0)
        table_result_free(&result);
}

/* The first line of the input (at most 200 octets) as one more key. */
static void fuzz_table_lookups(struct table *table, const uint8_t *data, size_t size)
{
    char key[201];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(fuzz_table_keys) / sizeof(fuzz_table_keys[0]); i++)
        fuzz_table_lookup(table, fuzz_table_keys[i]);
    while (n < size && n < sizeof(key) - 1 && data[n] != '\n' && data[n] != '\0') {
        key[n] = (char)data[n];
        n++;
    }
    key[n] = '\0';
    fuzz_table_lookup(table, key);
    (void)table_kind(table);
    (void)table_spec(table);
}

static void fuzz_table_open(const char *spec, const uint8_t *data, size_t size)
{
    char err[512];
    struct table *table = table_open(spec, err, sizeof(err));

    if (table != NULL) {
        fuzz_table_lookups(table, data, size);
        table_free(table);
    }
}

/* A table file of type TYPE holding the input. */
__attribute__((unused)) static int fuzz_table_file(const char *type, const uint8_t *data,
                                                   size_t size)
{
    static char path[256];
    char spec[300];
    FILE *fp;

    if (path[0] == '\0') {
        const char *tmp = getenv("TMPDIR");

        snprintf(path, sizeof(path), "%s/scand-fuzz-%s.%ld",
                 tmp != NULL && *tmp != '\0' ? tmp : "/tmp", type, (long)getpid());
    }
    fp = fopen(path, "wb");
    if (fp == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);
    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    fuzz_table_open(spec, data, size);
    return 0;
}

/* "inline:" followed by the input (up to its first NUL). */
__attribute__((unused)) static int fuzz_table_inline(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + sizeof("inline:"));

    memcpy(spec, "inline:", 7);
    memcpy(spec + 7, data, size);
    spec[7 + size] = '\0';
    fuzz_table_open(spec, data, size);
    free(spec);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    msg_open("fuzz_table", 1);
    return 0;
}

#endif
