/*
 * smtp_reply.c - read SMTP replies from a server (RFC 5321 4.2, 4.2.1).
 *
 * Policy: a reply is trusted only when it is well formed. Every line must
 * start with the same three-digit code (RFC 5321 4.2.1: "the same code on
 * each line"), followed by '-' (more lines follow), ' ' or the end of the
 * line (the last line). Anything else, and any reply larger than the
 * caller's bound, is SMTP_REPLY_ERROR: the caller treats the peer as broken
 * and turns every pending command into a 4yz, so nothing is lost.
 *
 * Lines end at CRLF; a bare LF is accepted too, as Postfix's smtp client
 * does (servers are more trusted than clients, and a server's reply never
 * becomes message content).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp_reply.h"
#include "util/msg.h"
#include "util/xalloc.h"

/* The code of one reply line, or -1 when the line is malformed. *last is set
 * when this line ends the reply. */
static int reply_line_code(const char *line, size_t len, int *last)
{
    if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]))
        return -1;
    /* RFC 5321 4.2: first digit 2..5 (1yz is never used by SMTP), second 0..5. */
    if (line[0] < '2' || line[0] > '5' || line[1] > '5')
        return -1;
    if (len == 3 || line[3] == ' ')
        *last = 1;
    else if (line[3] == '-')
        *last = 0;
    else
        return -1;
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Append one line to the normalised text: "CODE text", lines joined by '\n'. */
static void reply_append_line(struct evbuffer *text, const char *line, size_t len)
{
    if (evbuffer_get_length(text) > 0)
        evbuffer_add(text, "\n", 1);
    evbuffer_add(text, line, 3);
    if (len > 4) {
        evbuffer_add(text, " ", 1);
        evbuffer_add(text, line + 4, len - 4);
    }
}

static char *reply_text_take(struct evbuffer *text)
{
    size_t len = evbuffer_get_length(text);
    char *s = xmalloc(len + 1);

    evbuffer_remove(text, s, len);
    s[len] = 0;
    return s;
}

/* Scan the lines at the front of in without consuming them. Returns DONE
 * with *total (bytes to drain) when a complete reply is there. */
static enum smtp_reply_status reply_scan(struct evbuffer *in, size_t max_len, size_t *total,
                                         struct evbuffer *text, int *code)
{
    struct evbuffer_ptr pos;
    size_t buffered = evbuffer_get_length(in);
    char *line = NULL;

    evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
    *code = -1;
    for (;;) {
        size_t eol_len = 0;
        struct evbuffer_ptr eol = evbuffer_search_eol(in, &pos, &eol_len, EVBUFFER_EOL_LF);
        size_t start = (size_t)pos.pos;

        if (eol.pos < 0) {
            free(line);
            return buffered > max_len ? SMTP_REPLY_ERROR : SMTP_REPLY_MORE;
        }
        size_t end = (size_t)eol.pos + eol_len;
        if (end > max_len) {
            free(line);
            return SMTP_REPLY_ERROR;
        }
        size_t len = (size_t)eol.pos - start;
        line = xrealloc(line, len + 1);
        evbuffer_copyout_from(in, &pos, line, len);
        if (len > 0 && line[len - 1] == '\r')
            len--;

        int last = 0;
        int this_code = reply_line_code(line, len, &last);
        if (this_code < 0 || (*code >= 0 && this_code != *code)) {
            free(line);
            return SMTP_REPLY_ERROR;
        }
        *code = this_code;
        reply_append_line(text, line, len);
        if (last) {
            free(line);
            *total = end;
            return SMTP_REPLY_DONE;
        }
        evbuffer_ptr_set(in, &pos, end, EVBUFFER_PTR_SET);
    }
}

enum smtp_reply_status smtp_reply_read(struct evbuffer *in, size_t max_len,
                                       struct smtp_reply *reply)
{
    struct evbuffer *text = evbuffer_new();
    size_t total = 0;
    int code = -1;
    enum smtp_reply_status status;

    if (text == NULL)
        msg_fatal("out of memory");
    status = reply_scan(in, max_len, &total, text, &code);
    if (status == SMTP_REPLY_DONE) {
        evbuffer_drain(in, total);
        reply->code = code;
        reply->text = reply_text_take(text);
    }
    evbuffer_free(text);
    return status;
}

void smtp_reply_free(struct smtp_reply *reply)
{
    free(reply->text);
    reply->text = NULL;
    reply->code = 0;
}

void smtp_reply_set(struct smtp_reply *reply, const char *text)
{
    int last;
    int code = reply_line_code(text, strcspn(text, "\n"), &last);

    if (code < 0)
        msg_panic("smtp_reply_set: malformed reply text \"%s\"", text);
    free(reply->text);
    reply->code = code;
    reply->text = xstrdup(text);
}

void smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src)
{
    dst->code = src->code;
    dst->text = src->text ? xstrdup(src->text) : NULL;
}

/* Length of an RFC 3463 enhanced status code "c.sss.ddd" at s, 0 if none. */
static size_t reply_dsn_len(const char *s)
{
    size_t i = 0;

    for (int part = 0; part < 3; part++) {
        size_t digits = 0;
        while (isdigit((unsigned char)s[i]) && digits < 3) {
            i++;
            digits++;
        }
        if (digits == 0)
            return 0;
        if (part < 2) {
            if (s[i] != '.')
                return 0;
            i++;
        }
    }
    return (s[i] == ' ' || s[i] == '\n' || s[i] == 0) ? i : 0;
}

const char *smtp_reply_message(const struct smtp_reply *reply)
{
    const char *s = reply->text;

    if (s == NULL || strlen(s) < 4 || s[3] != ' ')
        return "";
    s += 4;
    size_t dsn = reply_dsn_len(s);
    if (dsn > 0) {
        s += dsn;
        if (*s == ' ')
            s++;
    }
    return s;
}

char *smtp_reply_oneline(const struct smtp_reply *reply)
{
    char *s = xstrdup(reply->text ? reply->text : "");

    for (char *p = s; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return s;
}
