/*
 * reply.c - the pieces of Postfix's reply texts: enhanced status codes
 * given in an access table result, their translation to fit what is
 * rejected, and printable replies (postfix-semantics.md section 4).
 */
#include <ctype.h>
#include <string.h>

#include "rules/rules_internal.h"

/* dsn_valid(): "D.S.N" with D one of 2, 4, 5 and S, N of one to three
 * digits, followed by the end or white space. Returns its length or 0. */
static size_t reply_dsn_length(const char *text)
{
    const char *cp = text;
    size_t len;

    if (*cp != '2' && *cp != '4' && *cp != '5')
        return 0;
    cp++;
    if (*cp++ != '.')
        return 0;
    for (len = 0; isdigit((unsigned char)*cp) && len < 4; len++, cp++)
        ;
    if (len == 0 || len > 3 || *cp++ != '.')
        return 0;
    for (len = 0; isdigit((unsigned char)*cp) && len < 4; len++, cp++)
        ;
    if (len == 0 || len > 3 || (*cp != '\0' && !isspace((unsigned char)*cp)))
        return 0;
    return (size_t)(cp - text);
}

int rules_dsn_valid(const char *dsn)
{
    return reply_dsn_length(dsn) > 0;
}

const char *rules_dsn_split(const char *text, const char *def, char *dsn, size_t dsnlen)
{
    const char *cp = text;
    size_t len;

    while (isspace((unsigned char)*cp))
        cp++;
    if ((len = reply_dsn_length(cp)) > 0 && len < dsnlen) {
        memcpy(dsn, cp, len);
        dsn[len] = '\0';
        cp += len;
    } else {
        len = strlen(def);
        if (len >= dsnlen)
            len = dsnlen - 1;
        memcpy(dsn, def, len);
        dsn[len] = '\0';
    }
    while (isspace((unsigned char)*cp))
        cp++;
    return cp;
}

/* smtpd_dsn_fix(): an address status X.1.Y given for something that is not
 * that kind of address is translated (RFC 3463: X.1.7/X.1.8 are the sender
 * codes of X.1.1/X.1.2). Only single-digit details are mapped; any other
 * detail becomes 0. */
void rules_dsn_fix(char *dsn, const char *reply_class)
{
    /* index: detail digit 0..9 */
    static const char sender_map[] = "0787707780";
    static const char rcpt_map[] = "0123456320";
    size_t len = strlen(dsn);
    char detail;

    if (len < 5 || strncmp(dsn + 1, ".1.", 3) != 0)
        return;
    detail = len == 5 && isdigit((unsigned char)dsn[4]) ? dsn[4] : 'x';
    if (strcmp(reply_class, "Sender address") == 0) {
        dsn[4] = detail == 'x' ? '0' : sender_map[detail - '0'];
        dsn[5] = '\0';
    } else if (strcmp(reply_class, "Recipient address") == 0) {
        dsn[4] = detail == 'x' ? '0' : rcpt_map[detail - '0'];
        dsn[5] = '\0';
    } else {
        dsn[2] = '0';
        dsn[3] = '.';
        dsn[4] = '0';
        dsn[5] = '\0';
    }
}

void rules_printable(char *text)
{
    for (unsigned char *cp = (unsigned char *)text; *cp; cp++)
        if (*cp < 0x20 || *cp == 0x7f)
            *cp = ' ';
}
