/*
 * smtp_xtext.h - xtext (RFC 3461 section 4) as used by DSN ENVID/ORCPT and XFORWARD.
 *
 * xtext is printable US-ASCII 33..126 except '+' and '=', with any other
 * octet written as "+XX" (two upper-case hex digits).
 */
#ifndef SCAND_SMTP_XTEXT_H
#define SCAND_SMTP_XTEXT_H

#include <stddef.h>

/* Decode; returns a fresh NUL-terminated string, or NULL when text is not
 * valid xtext (bad "+XX", a forbidden octet, or a decoded NUL). */
char *smtp_xtext_decode(const char *text, size_t len);
/* Encode any string as xtext; returns a fresh string. */
char *smtp_xtext_encode(const char *text);
/* True when text is syntactically valid xtext. */
int smtp_xtext_valid(const char *text, size_t len);

#endif
