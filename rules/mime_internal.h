/*
 * mime_internal.h - what mime_rules.c (parameters, loading, the verdict),
 * mime_act.c (the action dispatcher, explain lines) and mime_walk.c (GMime:
 * parsing, the walk over parts, decoding) share. Never included from
 * outside rules/.
 */
#ifndef SCAND_RULES_MIME_INTERNAL_H
#define SCAND_RULES_MIME_INTERNAL_H

#include <stddef.h>

#include "rules/checks.h"
#include "rules/rules.h"
#include "rules/table.h"

enum mime_check_kind {
    MIME_CHECK_NAME, /* attachment_name_checks */
    MIME_CHECK_TYPE, /* attachment_type_checks */
    MIME_CHECK_BODY, /* decoded_body_checks */
    MIME_CHECK_COUNT,
};

enum mime_ambiguous_action {
    MIME_AMBIGUOUS_DUNNO, /* relay; an "info" note for the log */
    MIME_AMBIGUOUS_WARN,  /* relay; a "warn" note */
    MIME_AMBIGUOUS_HOLD,  /* hold queue */
    MIME_AMBIGUOUS_DEFER, /* 451 4.6.0 */
};

struct mime_rules {
    struct checks_list checks[MIME_CHECK_COUNT];
    struct checks_tables set; /* the tables, the table-entry warnings logged */
    size_t parts_limit;       /* mime_parts_limit */
    size_t nesting_limit;     /* mime_nesting_limit (content.c's parameter) */
    size_t decoded_limit;     /* decoded_body_size_limit, per message */
    size_t line_limit;        /* line_length_limit: longer decoded lines go in pieces */
    int strict;               /* strict_mime_checks */
    enum mime_ambiguous_action ambiguous;
};

/* What one message's check collects. */
struct mime_run {
    struct mime_rules *rules;
    struct rules_verdict *verdict;
    const struct rules_explain *explain;
    char *reason;      /* REJECT from a table: "D.S.N text" */
    char *limit_reply; /* a parts or nesting limit was broken: the whole reply */
    char *malformed;   /* why GMime could not make sense of the message (first) */
    char *ambiguous;   /* the first ambiguity found */
    size_t ambiguous_count;
    size_t warnings_explained;
    int stop; /* REJECT, DISCARD, REDIRECT, PASS or a limit: no more lookups */
    int held;
    int discarded;
    int lookup_failed;
    size_t parts;         /* MIME objects visited */
    size_t names, types;  /* lookups made, for the summary */
    size_t decoded;       /* decoded text bytes inspected so far */
    size_t decoded_lines; /* decoded lines looked up */
    int decoded_noted;    /* decoded_body_size_limit reached, explained */
    char *path;           /* IMAP part number of the part being walked */
    size_t path_len;
    size_t path_cap;
    char *line; /* decoded line being assembled; reused */
    size_t line_len;
    size_t line_cap;
};

/* mime_act.c */
void mime_explain(struct mime_run *run, int depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Look key up in the tables of one check (first answer wins) and carry out
 * the action. what: "file name", "content type", "decoded line N". */
void mime_inspect(struct mime_run *run, enum mime_check_kind kind, const char *what,
                  const char *key);
/* Text made safe for a log line and the lookup: invalid UTF-8 and NUL bytes
 * become '?', in place. */
void mime_sanitize(char *text, size_t len);

/* mime_walk.c: parse data with GMime and inspect every part. */
void mime_walk(struct mime_run *run, const char *data, size_t len);

#endif
