/*
 * mime_rules.h - MIME rules Postfix cannot do, with GMime (issue 4, part 3):
 *
 *  attachment_name_checks = pcre:...   every part's file name, decoded
 *      (RFC 2047 and RFC 2231 with continuations and charsets, to UTF-8),
 *      nested messages included
 *  attachment_type_checks = pcre:...   each part's declared content type
 *  decoded_body_checks = pcre:...      decoded text of text parts (base64
 *      and quoted-printable decoded, converted to UTF-8, HTML as is)
 *
 * Same table syntax and actions as header_checks. Limits on parts, depth and
 * decoded bytes; a message GMime cannot make sense of is relayed unchanged
 * unless strict_mime_checks says to reject it; ambiguous MIME (conflicting
 * boundaries or headers, multipart without boundary, nesting overflow) has
 * its own configurable verdict (default: relay and log).
 *
 * GMime is for analysis only: this module never changes the message.
 */
#ifndef SCAND_RULES_MIME_RULES_H
#define SCAND_RULES_MIME_RULES_H

#include <stddef.h>

#include "rules/rules.h"

extern const struct rules_param mime_rules_params[];

struct mime_rules;

/* Once per process, after fork (GMime keeps process-wide state). */
void mime_rules_process_init(void);

struct mime_rules *mime_rules_load(const struct rules_source *source, char *err, size_t errlen);
void mime_rules_free(struct mime_rules *rules);
int mime_rules_empty(const struct mime_rules *rules);
int mime_rules_changed(const struct mime_rules *rules);

/* Check one message (content as received: CRLF lines, dot-unstuffing done).
 * verdict is zeroed by the call and gets the reply (REJECT/DEFER), side
 * effects (discard, hold, filter, redirect, bcc) and notes, as
 * content_check() does. explain may be NULL. */
void mime_rules_check(struct mime_rules *rules, const char *data, size_t len,
                      struct rules_verdict *verdict, const struct rules_explain *explain);

#endif
