/*
 * smtp_envelope.h - what one SMTP/LMTP transaction carries, and the parsers
 * for the MAIL FROM / RCPT TO argument text.
 *
 * Parameters are kept exactly as received (xtext left encoded) so that the
 * relay side can pass them on unchanged; absent ones are NULL / -1.
 */
#ifndef SCAND_SMTP_ENVELOPE_H
#define SCAND_SMTP_ENVELOPE_H

#include <stddef.h>

/* ESMTP parameters of MAIL (size .. envid) and RCPT (notify, orcpt). */
struct smtp_params {
    long long size; /* SIZE=, -1 when absent */
    char *body;     /* BODY= "7BIT" or "8BITMIME" (upper-cased), NULL when absent */
    int smtputf8;   /* SMTPUTF8 given */
    char *ret;      /* RET= "FULL" or "HDRS" (upper-cased), NULL when absent */
    char *envid;    /* ENVID= as received (xtext), NULL when absent */
    char *notify;   /* NOTIFY= "NEVER" or a list of SUCCESS,FAILURE,DELAY (upper-cased) */
    char *orcpt;    /* ORCPT= as received, "addr-type;xtext", NULL when absent */
};

/* XFORWARD attributes (XFORWARD_README), xtext-decoded. NULL when not sent.
 * "[UNAVAILABLE]" and "[TEMPUNAVAIL]" are kept as these literal strings. */
struct smtp_xforward {
    char *name;
    char *addr;
    char *port;
    char *proto;
    char *helo;
    char *ident;
    char *source;
};

struct smtp_rcpt {
    char *addr; /* without angle brackets; as received (case kept) */
    struct smtp_params params;
};

/* Result of parsing a MAIL or RCPT argument. On failure, reply holds the
 * complete Postfix-style reply ("501 5.1.7 Bad sender address syntax", ...). */
struct smtp_parse_result {
    int ok;
    const char *reply; /* static text, valid when !ok */
    /* Added: for an unsupported parameter reply is "555 5.5.4 Unsupported
     * option" and option/option_len point at the parameter inside args, so
     * that the server can echo it as Postfix does ("...: X"); else NULL. */
    const char *option;
    size_t option_len;
};

/* Parse the text after "MAIL" (e.g. "FROM:<a@b> SIZE=10 BODY=8BITMIME").
 * On success *addr is a fresh string ("" for the null sender) and params is
 * filled (caller frees both with smtp_params_free and free). */
struct smtp_parse_result smtp_parse_mail(const char *args, char **addr, struct smtp_params *params);
/* Same for the text after "RCPT" ("TO:<x@y> NOTIFY=SUCCESS ORCPT=rfc822;x@y"). */
struct smtp_parse_result smtp_parse_rcpt(const char *args, char **addr, struct smtp_params *params);

void smtp_params_init(struct smtp_params *params);
void smtp_params_free(struct smtp_params *params);
void smtp_params_copy(struct smtp_params *dst, const struct smtp_params *src);

void smtp_xforward_free(struct smtp_xforward *xf);
void smtp_xforward_copy(struct smtp_xforward *dst, const struct smtp_xforward *src);
/* True when value is NULL, "[UNAVAILABLE]" or "[TEMPUNAVAIL]". */
int smtp_xforward_unavailable(const char *value);

#endif
