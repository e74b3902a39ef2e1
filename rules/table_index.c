/*
 * table_index.c - an open-addressing hash of string keys.
 *
 * Linear probing over a power-of-two slot array kept at most half full, so
 * a lookup is a hash and a probe or two whatever the table size. Entries
 * live in one array; a slot holds an entry number plus one (0 is empty).
 * Each entry's key and value share one allocation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/table_internal.h"
#include "util/xalloc.h"

struct index_entry {
    uint64_t hash;
    char *key; /* key '\0' value '\0' */
    const char *value;
    int line;
};

struct table_index {
    uint32_t *slots;
    size_t nslots; /* a power of two */
    struct index_entry *entries;
    size_t count;
    size_t cap;
};

/* FNV-1a: simple, and good enough for text keys. */
static uint64_t index_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

struct table_index *table_index_new(void)
{
    struct table_index *index = xcalloc(1, sizeof(*index));
    index->nslots = 64;
    index->slots = xcalloc(index->nslots, sizeof(*index->slots));
    return index;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t index_probe(const struct table_index *index, const char *key, uint64_t hash)
{
    size_t mask = index->nslots - 1;
    size_t i = (size_t)hash & mask;

    while (index->slots[i] != 0) {
        const struct index_entry *e = &index->entries[index->slots[i] - 1];
        if (e->hash == hash && strcmp(e->key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static void index_rehash(struct table_index *index)
{
    size_t mask;

    free(index->slots);
    index->nslots *= 2;
    index->slots = xcalloc(index->nslots, sizeof(*index->slots));
    mask = index->nslots - 1;
    for (size_t n = 0; n < index->count; n++) {
        size_t i = (size_t)index->entries[n].hash & mask;
        while (index->slots[i] != 0)
            i = (i + 1) & mask;
        index->slots[i] = (uint32_t)(n + 1);
    }
}

static void entry_set(struct index_entry *e, const char *key, const char *value, int line)
{
    size_t klen = strlen(key);
    size_t vlen = strlen(value);

    e->key = xmalloc(klen + vlen + 2);
    memcpy(e->key, key, klen + 1);
    memcpy(e->key + klen + 1, value, vlen + 1);
    e->value = e->key + klen + 1;
    e->line = line;
}

int table_index_put(struct table_index *index, const char *key, const char *value, int line,
                    int replace)
{
    uint64_t hash = index_hash(key);
    size_t i = index_probe(index, key, hash);

    if (index->slots[i] != 0) {
        struct index_entry *e = &index->entries[index->slots[i] - 1];
        if (replace) {
            free(e->key);
            entry_set(e, key, value, line);
        }
        return 0;
    }
    if (index->count >= UINT32_MAX - 1)
        return 0;
    index->entries = xgrow(index->entries, &index->cap, index->count + 1, sizeof(*index->entries));
    struct index_entry *e = &index->entries[index->count];
    e->hash = hash;
    entry_set(e, key, value, line);
    index->slots[i] = (uint32_t)(++index->count);
    if (index->count * 2 > index->nslots)
        index_rehash(index);
    return 1;
}

const char *table_index_get(const struct table_index *index, const char *key, int *line)
{
    uint64_t hash = index_hash(key);
    size_t i = index_probe(index, key, hash);

    if (index->slots[i] == 0)
        return NULL;
    const struct index_entry *e = &index->entries[index->slots[i] - 1];
    if (line != NULL)
        *line = e->line;
    return e->value;
}

size_t table_index_count(const struct table_index *index)
{
    return index->count;
}

void table_index_free(struct table_index *index)
{
    if (index == NULL)
        return;
    for (size_t n = 0; n < index->count; n++)
        free(index->entries[n].key);
    free(index->entries);
    free(index->slots);
    free(index);
}
