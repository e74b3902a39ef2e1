/*
 * smtp_xtext.c - xtext encoding and decoding (RFC 3461 section 4).
 *
 * Decoding accepts lower-case hex digits after '+' as Postfix's
 * xtext_unquote() does (RFC 3461 asks senders for upper case; being lenient
 * on input costs nothing), but rejects everything RFC 3461 forbids as a
 * literal octet: controls, space, '=', DEL and 8-bit octets. A "+00" is
 * refused because the decoded value must be a C string.
 */
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#include "smtp/smtp_xtext.h"

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* RFC 3461 4: xchar = any ASCII CHAR between "!" (33) and "~" (126)
 * inclusive, except "+" and "=". */
static int is_xchar(unsigned char ch)
{
    return ch >= 33 && ch <= 126 && ch != '+' && ch != '=';
}

/* Decode one unit at text[i]; stores the octet and returns its length in
 * the input, or 0 when the unit is invalid. */
static size_t decode_unit(const char *text, size_t len, size_t i, unsigned char *out)
{
    unsigned char ch = (unsigned char)text[i];
    int hi, lo;

    if (ch != '+') {
        if (!is_xchar(ch))
            return 0;
        *out = ch;
        return 1;
    }
    if (len - i < 3)
        return 0;
    hi = hex_value((unsigned char)text[i + 1]);
    lo = hex_value((unsigned char)text[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return 0;
    *out = (unsigned char)(hi * 16 + lo);
    return 3;
}

int smtp_xtext_valid(const char *text, size_t len)
{
    size_t i = 0, n;
    unsigned char octet;

    while (i < len) {
        if ((n = decode_unit(text, len, i, &octet)) == 0)
            return 0;
        i += n;
    }
    return 1;
}

char *smtp_xtext_decode(const char *text, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t i = 0, o = 0, n;
    unsigned char octet;

    while (i < len) {
        if ((n = decode_unit(text, len, i, &octet)) == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)octet;
        i += n;
    }
    out[o] = '\0';
    return out;
}

char *smtp_xtext_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(text), i, o = 0;
    char *out = xmalloc(3 * len + 1);

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];

        if (is_xchar(ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '+';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 0xf];
        }
    }
    out[o] = '\0';
    return out;
}
