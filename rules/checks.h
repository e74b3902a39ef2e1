/*
 * checks.h - what the header_checks(5)-style checks share: content.c
 * (header_checks, body_checks) and the MIME rules (mime_rules.c,
 * mime_act.c). A check is a parameter naming a list of tables; the first
 * table that answers decides, and its answer is one of Postfix's cleanup
 * actions. Never included from outside rules/.
 */
#ifndef SCAND_RULES_CHECKS_H
#define SCAND_RULES_CHECKS_H

#include <stdarg.h>
#include <stddef.h>

#include "rules/rules.h"
#include "rules/table.h"

/* One parameter's tables, searched in order. */
struct checks_list {
    const char *param;
    struct table **tables; /* owned by checks_tables.opened */
    size_t count;
};

/* What a set of checks owns: each table once, however often named, and
 * the table-entry warnings already logged ("where: text"). */
struct checks_tables {
    struct table **opened;
    size_t opened_count;
    char **warned;
    size_t warned_count;
};

/* ---- loading ---- */

/* Where name was set ("FILE, line N"), or "parameter NAME". */
void checks_where(const struct rules_source *source, const char *name, char *buf, size_t len);
/* A size parameter's text (NULL: unset, an error) into *value, at least
 * min; -1 with "WHERE: bad numerical configuration: name = text". */
int checks_size(const struct rules_source *source, const char *name, const char *text, size_t min,
                size_t *value, char *err, size_t errlen);
/* A boolean parameter's text (NULL: no) into *value; -1 with "WHERE: bad
 * boolean configuration: name = text". */
int checks_bool(const struct rules_source *source, const char *name, const char *text, int *value,
                char *err, size_t errlen);
/* value: "type:name, type:name" for param; the tables opened once in set.
 * -1 with "WHERE: parameter PARAM: why". */
int checks_load_list(struct checks_tables *set, struct checks_list *list,
                     const struct rules_source *source, const char *param, const char *value,
                     char *err, size_t errlen);
void checks_tables_free(struct checks_tables *set);
int checks_tables_changed(const struct checks_tables *set);

/* ---- one message ---- */

void checks_explain(const struct rules_explain *explain, int depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void checks_vexplain(const struct rules_explain *explain, int depth, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* A warning about the table entry at where: explained (depth 2) every
 * time, logged once per entry and text. */
void checks_warn_once(struct checks_tables *set, const struct rules_explain *explain,
                      const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Postfix's maps_find(): the tables in order, the first answer wins. A
 * lookup error is logged, explained at depth and sets *lookup_failed. */
int checks_lookup(const struct checks_list *list, const char *key, struct table_result *r,
                  const struct rules_explain *explain, int depth, int *lookup_failed);

/* Input shown in --explain: control characters escaped, cut long.
 * named: "\n" and "\t" for those two (content.c) rather than "\x0a". */
void checks_show(const char *input, int named, char *buf, size_t len);
/* The table line that matched, read again from its file (--explain only):
 * where is "FILE, line N". Empty when it cannot be read. */
void checks_rule_source(const char *where, int named, char *buf, size_t len);

/* "550 D.S.N text" (or 451 for a 4.X.Y reason). */
char *checks_reject_reply(const char *reason);

/* One action of header_checks(5), what content.c and the MIME rules both
 * do with it. The state fields are the caller's, shared across matches. */
struct checks_act {
    struct checks_tables *set;
    const struct rules_explain *explain;
    struct rules_verdict *verdict;
    const char *param;   /* the check, for warnings */
    const char *where;   /* the table entry, for warnings */
    const char *subject; /* what matched, for notes: "header Subject: x" */
    const char *scope;   /* PASS: "no further SCOPE inspection" */
    const char *input;   /* DUNNO: "no action for this INPUT" */
    char **reason;       /* REJECT: "D.S.N text" */
    int *stop;           /* REJECT, DISCARD, REDIRECT, PASS: no more lookups */
    int *held;
    int *discarded;
};

/* 1 when the command, the first cmd_len bytes of value, is word (any
 * case). */
int checks_is(const char *value, size_t cmd_len, const char *word);
/* A note for the daemon's log: "SUBJECT: text" (": text" when text is
 * empty left out). */
void checks_note(struct rules_verdict *v, const char *kind, const char *subject, const char *text);
/* Carry out a command of the vocabulary every input shares, that is all
 * but the edits (IGNORE, STRIP, PREPEND, REPLACE: the caller's); an
 * unknown one is warned about and has no effect. what: the --explain line
 * about it. */
void checks_act(const struct checks_act *a, const char *value, char *what, size_t wlen);

#endif
