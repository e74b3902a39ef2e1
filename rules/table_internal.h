/*
 * table_internal.h - shared by rules/table*.c only; never included from
 * another folder.
 *
 * Every table type fills a struct table with its own lookup and free
 * functions; table.c owns the spec, the file identity for table_changed()
 * and the dispatch. Files are read whole and split into logical lines the
 * way Postfix's readllines() does, so line numbers in errors match
 * Postfix's.
 */
#ifndef SCAND_RULES_TABLE_INTERNAL_H
#define SCAND_RULES_TABLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "rules/table.h"

struct table_ops {
    int (*lookup)(struct table *table, const char *key, struct table_result *result);
    void (*free)(void *priv);
};

struct table {
    char *spec; /* "type:name" as given */
    char *path; /* the file behind the table; NULL for inline/static */
    enum table_kind kind;
    const struct table_ops *ops;
    void *priv;
    /* Identity of the file when it was read, for table_changed(). */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* A growable, length-carrying string; always NUL-terminated once used. */
struct tbuf {
    char *s;
    size_t len;
    size_t cap;
};

void tbuf_add(struct tbuf *buf, const char *data, size_t len);
void tbuf_addch(struct tbuf *buf, char ch);
void tbuf_reset(struct tbuf *buf);
void tbuf_free(struct tbuf *buf);

/* A whole file in memory, cut into logical lines: '#' comments and blank
 * lines skipped, a line starting with white space continues the previous
 * logical line (also across comments and blank lines), the continuation's
 * own leading white space kept. first_line is the line number of the
 * logical line's first physical line. */
struct table_lines {
    const char *path;
    char *data;
    size_t len;
    size_t pos;
    int lineno;     /* last physical line read */
    int first_line; /* first physical line of the current logical line */
    struct tbuf line;
};

/* Read path whole. On error returns -1 with "open database PATH: reason"
 * in err. */
int table_lines_open(struct table_lines *lines, const char *path, char *err, size_t errlen);
/* The same over text already in memory (taken over, freed at close); name
 * stands for the file in messages. */
void table_lines_text(struct table_lines *lines, const char *name, struct tbuf *text);
/* 1 with lines->line holding the next logical line, 0 at end of file. */
int table_lines_next(struct table_lines *lines);
void table_lines_close(struct table_lines *lines);

/* Lower-case ASCII in place, as Postfix's lowercase(). */
void table_fold(char *s);
/* "FILE, line N" for table_result.where. */
char *table_where(const char *path, int line);

/* An open-addressing hash of string keys, used by the indexed and inline
 * types. */
struct table_index;
struct table_index *table_index_new(void);
/* Returns 1 when stored, 0 when the key existed (first kept unless
 * replace). Copies key and value. */
int table_index_put(struct table_index *index, const char *key, const char *value, int line,
                    int replace);
/* The value stored for key (exact bytes) or NULL; *line set when found. */
const char *table_index_get(const struct table_index *index, const char *key, int *line);
size_t table_index_count(const struct table_index *index);
void table_index_free(struct table_index *index);

/* The Postfix 3.7 inline form of a pattern table, "{ {rule-1}, {rule-2} }":
 * the rules as text lines, one per braced item. -1 with err as Postfix
 * words it ("pcre map: no '{' at start of text in ..."). */
int table_inline_rules(const char *type, const char *name, struct tbuf *text, char *err,
                       size_t errlen);

/* Lines of a pattern table: its file, or the inline rules when the table
 * has no file (table->path NULL). */
int table_lines_for(struct table *table, const char *type, const char *name,
                    struct table_lines *lines, char *err, size_t errlen);

/* For table_link_ifs(): about rule i of rules, 1 for an IF, -1 for an
 * ENDIF, 0 for any other rule; *line its line, *skip_to where an IF's
 * "index of the rule after its ENDIF" is kept. */
typedef int (*table_if_op_fn)(void *rules, size_t i, int *line, size_t **skip_to);
/* Pair every IF with its ENDIF (setting the IF's skip_to), or -1 with
 * "PATH, line N: endif_without_if" or "PATH, line N: IF has no matching
 * ENDIF" in err. */
int table_link_ifs(const char *path, size_t count, table_if_op_fn op, void *rules,
                   const char *endif_without_if, char *err, size_t errlen);

/* The per-type openers. name is the part after "type:". Each returns 0
 * with table->kind, ops and priv set, or -1 with err filled. */
int table_open_indexed(struct table *table, const char *name, char *err, size_t errlen);
int table_open_inline(struct table *table, const char *name, char *err, size_t errlen);
int table_open_static(struct table *table, const char *name, char *err, size_t errlen);
int table_open_pcre(struct table *table, const char *name, char *err, size_t errlen);
int table_open_regexp(struct table *table, const char *name, char *err, size_t errlen);
int table_open_cidr(struct table *table, const char *name, char *err, size_t errlen);

/* Anchored-prefix dispatch for the pattern tables (table_prefix.c). The
 * literal text every match of pattern must start the subject with, put in
 * out; returns its length, 0 when none can be proven (then out is empty).
 * pattern starts with "^", or anchored says the engine anchors it. The
 * caller refuses flags that change '^' or plain characters (multi-line,
 * extended, basic regexp). */
size_t table_pattern_prefix(const char *pattern, int anchored, struct tbuf *out);
/* Does key start with prefix (ASCII case folded when caseless)? */
int table_prefix_match(const char *prefix, size_t len, int caseless, const char *key);
/* The byte a prefix or key is indexed under (ASCII lower case). */
int table_prefix_byte(int ch);
/* Positions 0..n-1 grouped by first[i] (already folded), ascending within
 * each byte. */
struct table_byte_index;
struct table_byte_index *table_byte_index_new(const unsigned char *first, size_t n);
const uint32_t *table_byte_index_get(const struct table_byte_index *index, int byte,
                                     size_t *count);
void table_byte_index_free(struct table_byte_index *index);
/* The longest literal text every match of a PCRE2 pattern (no extended
 * flag) contains somewhere, put in out; returns its length, 0 when none
 * can be proven (table_prefix.c). */
size_t table_pattern_required(const char *pattern, struct tbuf *out);

#endif
