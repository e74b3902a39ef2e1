/*
 * content.h - Postfix's content checks after the queue: header_checks,
 * mime_header_checks, nested_header_checks and body_checks (header_checks(5),
 * ../shared/postfix-semantics.md section 8), over one whole message, in one
 * pass, with Postfix's meaning: which table sees which header or line,
 * folded headers joined as Postfix joins them, the limits
 * (header_size_limit, body_checks_size_limit, line_length_limit,
 * mime_nesting_limit, disable_mime_input_processing), and the actions.
 *
 * The relayed message keeps every byte no action changed: an action that
 * edits (IGNORE, REPLACE, PREPEND) produces a rewritten copy in which only
 * the edited lines differ.
 */
#ifndef SCAND_RULES_CONTENT_H
#define SCAND_RULES_CONTENT_H

#include <stddef.h>

#include "rules/rules.h"

/* Every parameter the content checks read, with Postfix's default. */
extern const struct rules_param content_params[];

struct content_rules;

/* Compile the tables named by header_checks, mime_header_checks,
 * nested_header_checks and body_checks. Errors as rules_load(). */
struct content_rules *content_rules_load(const struct rules_source *source, char *err,
                                         size_t errlen);
void content_rules_free(struct content_rules *rules);
int content_rules_empty(const struct content_rules *rules);
int content_rules_changed(const struct content_rules *rules);

/* Check one message: data/len is the content as received (lines ending in
 * CRLF, dot-stuffing removed). verdict (zeroed by the call) gets: reply for
 * REJECT (550 5.7.1 ..., or 4yz/5yz from a D.S.N text, as Postfix), the
 * message-level side effects (discard, hold, filter, redirect, bcc) and
 * notes (warn, info). When an action edited the message, *rewritten is a
 * fresh malloc'd copy of the whole new content (length *rewritten_len);
 * otherwise NULL. explain may be NULL; when given, it gets which line, in
 * which part, matched which entry of which table, and what was done. */
void content_check(struct content_rules *rules, const char *data, size_t len,
                   struct rules_verdict *verdict, char **rewritten, size_t *rewritten_len,
                   const struct rules_explain *explain);

#endif
