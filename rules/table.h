/*
 * table.h - Postfix lookup tables, compiled once at load.
 *
 *  hash:, btree:, lmdb:, cdb:, texthash:FILE  the postmap source text FILE
 *      ("key value" lines, '#' comments, continuation lines), no Berkeley
 *      DB needed; keys folded to lower case, lookups fold the query too; an
 *      open-addressing hash, so a lookup costs the same at 10 or 10^6 entries.
 *  pcre:FILE     pcre_table(5): /re/flags result, !/re/, if/endif, $1 ${1} $(1)
 *                substitution; PCRE2 with JIT and a match limit.
 *  regexp:FILE   regexp_table(5): POSIX extended regex (regcomp), same syntax.
 *  cidr:FILE     cidr_table(5): address[/len] result, IPv4 and IPv6, !, if/endif.
 *  inline:{ key=value, { key = text with spaces } }
 *  static:value, static:{ text with spaces }
 *
 * Case: indexed tables fold; regexp/pcre patterns are case-insensitive
 * unless the i flag toggles it (Postfix's default). See
 * ../shared/postfix-semantics.md sections 2.5 and 2.6 for the edge cases.
 */
#ifndef SCAND_RULES_TABLE_H
#define SCAND_RULES_TABLE_H

#include <stddef.h>

struct table;

/* What keys a table can answer; access lookups (access.h) differ by kind:
 * indexed tables get partial keys (parent domains, address octets...),
 * the others only the full string. */
enum table_kind {
    TABLE_KIND_INDEXED, /* hash, btree, lmdb, cdb, texthash, inline */
    TABLE_KIND_REGEX,   /* pcre, regexp */
    TABLE_KIND_CIDR,    /* cidr: only IP addresses can match */
    TABLE_KIND_STATIC,  /* static: matches every key */
};

struct table_result {
    char *value; /* the result, $n substituted; caller frees via table_result_free */
    char *where; /* "FILE, line N" of the entry that matched, or the spec for inline/static */
};

/* Open "type:name". On error returns NULL and writes to err, with file and
 * line when a table line is at fault ("/etc/scand/x.pcre, line 3: ..."),
 * or naming the spec ("unsupported table type: foo:/x"). */
struct table *table_open(const char *spec, char *err, size_t errlen);
void table_free(struct table *table);

/* 1: found (result filled), 0: not found, -1: lookup error (result->value
 * holds a reason for the log; the caller defers, as Postfix's "Temporary
 * lookup failure"). */
int table_lookup(struct table *table, const char *key, struct table_result *result);
void table_result_free(struct table_result *result);

enum table_kind table_kind(const struct table *table);
const char *table_spec(const struct table *table); /* "hash:/etc/scand/access" */
/* True when the file behind the table changed (mtime, size, inode) since it
 * was opened; always false for inline: and static:. */
int table_changed(const struct table *table);

#endif
