/*
 * smtp_server.c - server side SMTP/LMTP session (see smtp_server.h).
 *
 * What the session answers itself, and how (Postfix 3.7 smtpd is the
 * oracle; every text below was checked against it with the defaults
 * smtpd_helo_required=yes, disable_vrfy_command=yes):
 *
 *  - MAIL before HELO/EHLO/LHLO: "503 5.5.1 Error: send HELO/EHLO first".
 *    RCPT and DATA check the transaction first, as Postfix does, so they
 *    get "need MAIL command" / "need RCPT command" instead.
 *  - DATA without MAIL: "503 5.5.1 Error: need RCPT command"; DATA inside a
 *    transaction without an accepted recipient: "554 5.5.1 Error: no valid
 *    recipients" under SMTP, the same text with 503 under LMTP (RFC 2033
 *    4.2: "503 if no valid recipients").
 *  - The end of DATA under LMTP gets one reply per accepted recipient
 *    (RFC 2033 4.2), including the replies the session makes itself for a
 *    message over a limit.
 *  - Command lines end at LF, with an optional CR before it, as Postfix 3.7
 *    reads them (the strict CRLF rule matters for DATA content, which is
 *    framed by smtp_data_in.c, not here). A NUL in a command line gets
 *    "500 5.5.2 Error: command not recognized", which is what Postfix ends
 *    up answering for one. A line that is not valid UTF-8 gets "500 5.5.2
 *    Error: bad UTF-8 syntax" and an empty one "500 5.5.2 Error: bad
 *    syntax", as from Postfix (smtputf8_enable = yes).
 *  - A command line longer than command_line_limit: Postfix truncates it
 *    and runs what is left, which could turn a cut MAIL or RCPT into a
 *    different valid command. We discard the whole line as it arrives (never
 *    holding more than the limit) and answer "500 5.5.2 Error: command line
 *    too long" without running it. Deliberate difference.
 *  - XFORWARD follows Postfix's xforward_cmd: NAME must be a host name,
 *    "[UNAVAILABLE]" or "[TEMPUNAVAIL]"; ADDR an IP address (IPv6 with or
 *    without the "IPv6:" prefix) or "[UNAVAILABLE]"; PORT digits or
 *    "[UNAVAILABLE]"; SOURCE "LOCAL", "REMOTE" or "[UNAVAILABLE]"; PROTO at
 *    most 64 octets; HELO, IDENT and PROTO take any text, control characters
 *    replaced by '?' (Postfix neuters them too: rejecting would bounce mail
 *    that Postfix's own smtpd accepted). Raw values over 255 octets are
 *    "too long". Deliberate differences: a value with "+00" (a NUL) is bad
 *    syntax; an XFORWARD command is applied whole or not at all.
 *  - After a MAIL that the owner answered with a non-2yz reply, no
 *    transaction is open: the sender and parameters are dropped and the
 *    reset event is sent; XFORWARD attributes stay for the next MAIL (the
 *    client sent them for the connection it is going to retry on).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/msg.h"
#include "util/xalloc.h"

#include "smtp/smtp_data_in.h"
#include "smtp/smtp_server.h"
#include "smtp/smtp_xtext.h"

/* Postfix's line_length_limit default, used when the owner gives 0. */
#define DEFAULT_COMMAND_LINE_LIMIT 2048
/* Postfix smtpd: longest XFORWARD attribute value, before decoding. */
#define XFORWARD_VALUE_LIMIT 255
#define XFORWARD_PROTO_LIMIT 64

enum server_state {
    ST_COMMAND,      /* reading commands */
    ST_WAIT_MAIL,    /* the owner owes the MAIL reply */
    ST_WAIT_RCPT,    /* the owner owes the RCPT reply */
    ST_WAIT_DATA,    /* the owner owes the DATA reply */
    ST_DATA,         /* reading message content */
    ST_WAIT_MESSAGE, /* the owner owes the end-of-data reply(ies) */
    ST_CLOSED,       /* QUIT answered, or timeout: nothing more is read */
};

struct smtp_server {
    struct smtp_server_config config;
    const struct smtp_server_events *events;
    void *ctx;
    struct evbuffer *output;
    enum server_state state;
    enum smtp_server_proto proto;
    char *helo;
    struct smtp_transaction tx;
    struct smtp_rcpt pending_rcpt; /* the RCPT the owner is deciding on */
    size_t replies_owed;           /* end-of-data replies still expected */
    int skipping_line;             /* inside an overlong command line */
    struct smtp_data_in *data_in;
    struct evbuffer *message;
};

struct command {
    const char *name;
    void (*handler)(struct smtp_server *server, const char *args);
};

/* ---------------------------------------------------------------------
 * Replies
 */

static int reply_code_valid(const char *line)
{
    return isdigit((unsigned char)line[0]) && isdigit((unsigned char)line[1]) &&
           isdigit((unsigned char)line[2]) && (line[3] == ' ' || line[3] == '-' || line[3] == '\0');
}

/* Write one reply line; control characters in text become '?' so that the
 * owner (who may pass on a relay's text) can never break our framing. */
static void write_line(struct smtp_server *server, const char *code, char sep, const char *text,
                       size_t len)
{
    char *clean = xstrndup(text, len);
    char *cp;

    for (cp = clean; *cp; cp++)
        if ((unsigned char)*cp < 32 || *cp == 127)
            *cp = '?';
    evbuffer_add_printf(server->output, "%.3s%c%s\r\n", code, sep, clean);
    free(clean);
}

/* text: one or more lines separated by '\n', each "CODE text". A line
 * without a code gets the first line's code. */
static void write_reply(struct smtp_server *server, const char *text)
{
    const char *code = reply_code_valid(text) ? text : "451";
    const char *line = text;

    if (!reply_code_valid(text))
        msg_warn("smtp_server: reply without a code: \"%s\"", text);
    for (;;) {
        const char *nl = strchr(line, '\n');
        const char *body = line;
        size_t len;

        if (reply_code_valid(line))
            body = line[3] ? line + 4 : line + 3;
        len = nl ? (size_t)(nl - body) : strlen(body);
        if (len > 0 && body[len - 1] == '\r')
            len--;
        if (nl == NULL || nl[1] == '\0') {
            write_line(server, code, ' ', body, len);
            return;
        }
        write_line(server, code, '-', body, len);
        line = nl + 1;
    }
}

/* The session answers a command itself with an error. The owner logs the
 * reply, which may echo client bytes (a bad XFORWARD value): it gets a copy
 * with control characters but the line separator made '?', so that nothing
 * from the wire can forge or break a log line. */
static void refuse(struct smtp_server *server, const char *command, const char *reply)
{
    char *clean;

    write_reply(server, reply);
    if (server->events->refused == NULL)
        return;
    clean = xstrdup(reply);
    for (char *cp = clean; *cp; cp++)
        if (((unsigned char)*cp < 32 && *cp != '\n') || *cp == 127)
            *cp = '?';
    server->events->refused(server->ctx, server, command, clean);
    free(clean);
}

/* ---------------------------------------------------------------------
 * Transaction state
 */

static void free_rcpt(struct smtp_rcpt *rcpt)
{
    free(rcpt->addr);
    rcpt->addr = NULL;
    smtp_params_free(&rcpt->params);
}

/* Drop sender, parameters and recipients (not XFORWARD). */
static void clear_envelope(struct smtp_server *server)
{
    struct smtp_transaction *tx = &server->tx;
    size_t i;

    for (i = 0; i < tx->rcpt_count; i++)
        free_rcpt(&tx->rcpts[i]);
    free(tx->rcpts);
    tx->rcpts = NULL;
    tx->rcpt_count = 0;
    free(tx->sender);
    tx->sender = NULL;
    smtp_params_free(&tx->mail_params);
    tx->has_mail = 0;
    free_rcpt(&server->pending_rcpt);
    evbuffer_drain(server->message, evbuffer_get_length(server->message));
}

/* The transaction ends: everything per-transaction goes, XFORWARD included
 * (XFORWARD_README: attributes apply to the next MAIL transaction only). */
static void end_transaction(struct smtp_server *server)
{
    clear_envelope(server);
    smtp_xforward_free(&server->tx.xforward);
    if (server->events->reset)
        server->events->reset(server->ctx, server);
}

/* ---------------------------------------------------------------------
 * Commands answered by the session
 */

static int has_helo(const struct smtp_server *server)
{
    return server->proto != SMTP_SERVER_PROTO_NONE;
}

static void write_ehlo(struct smtp_server *server)
{
    struct evbuffer *out = server->output;

    evbuffer_add_printf(out, "250-%s\r\n250-PIPELINING\r\n", server->config.myhostname);
    if (server->config.message_size_limit > 0)
        evbuffer_add_printf(out, "250-SIZE %zu\r\n", server->config.message_size_limit);
    else
        evbuffer_add_printf(out, "250-SIZE\r\n");
    if (!server->config.xforward_denied)
        evbuffer_add_printf(out, "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n");
    evbuffer_add_printf(out, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                             "250 SMTPUTF8\r\n");
}

static void hello(struct smtp_server *server, const char *verb, const char *args,
                  enum smtp_server_proto proto)
{
    char *reply;

    if (*args == '\0') {
        /* Postfix 3.7 gives this one without an enhanced status code. */
        reply = xasprintf("501 Syntax: %s hostname", verb);
        refuse(server, verb, reply);
        free(reply);
        return;
    }
    /* RFC 5321 4.1.4: HELO/EHLO in a session is an implicit RSET. */
    end_transaction(server);
    free(server->helo);
    server->helo = xstrdup(args);
    server->proto = proto;
    if (proto == SMTP_SERVER_PROTO_SMTP)
        evbuffer_add_printf(server->output, "250 %s\r\n", server->config.myhostname);
    else
        write_ehlo(server);
}

static void cmd_helo(struct smtp_server *server, const char *args)
{
    hello(server, "HELO", args, SMTP_SERVER_PROTO_SMTP);
}

static void cmd_ehlo(struct smtp_server *server, const char *args)
{
    hello(server, "EHLO", args, SMTP_SERVER_PROTO_ESMTP);
}

static void cmd_lhlo(struct smtp_server *server, const char *args)
{
    hello(server, "LHLO", args, SMTP_SERVER_PROTO_LMTP);
}

static void cmd_rset(struct smtp_server *server, const char *args)
{
    if (*args != '\0') {
        refuse(server, "RSET", "501 5.5.4 Syntax: RSET");
        return;
    }
    end_transaction(server);
    write_reply(server, "250 2.0.0 Ok");
}

static void cmd_noop(struct smtp_server *server, const char *args)
{
    (void)args;
    write_reply(server, "250 2.0.0 Ok");
}

static void cmd_quit(struct smtp_server *server, const char *args)
{
    (void)args;
    write_reply(server, "221 2.0.0 Bye");
    end_transaction(server);
    server->state = ST_CLOSED;
}

static void cmd_vrfy(struct smtp_server *server, const char *args)
{
    (void)args;
    refuse(server, "VRFY", "502 5.5.1 VRFY command is disabled");
}

/* ---------------------------------------------------------------------
 * MAIL, RCPT, DATA: checked here, decided by the owner
 */

static void parse_failed(struct smtp_server *server, const char *command,
                         struct smtp_parse_result res)
{
    char *reply;

    if (res.option == NULL) {
        refuse(server, command, res.reply);
        return;
    }
    reply = xasprintf("%s: %.*s", res.reply, (int)res.option_len, res.option);
    refuse(server, command, reply);
    free(reply);
}

static void cmd_mail(struct smtp_server *server, const char *args)
{
    struct smtp_parse_result res;
    char *addr;
    struct smtp_params params;

    if (!has_helo(server)) {
        refuse(server, "MAIL", "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (server->tx.has_mail) {
        refuse(server, "MAIL", "503 5.5.1 Error: nested MAIL command");
        return;
    }
    res = smtp_parse_mail(args, &addr, &params);
    if (!res.ok) {
        parse_failed(server, "MAIL", res);
        return;
    }
    /* RFC 1870 6: refuse at MAIL what could never be accepted. */
    if (server->config.message_size_limit > 0 && params.size >= 0 &&
        (unsigned long long)params.size > server->config.message_size_limit) {
        free(addr);
        smtp_params_free(&params);
        refuse(server, "MAIL", "552 5.3.4 Message size exceeds fixed limit");
        return;
    }
    server->tx.sender = addr;
    server->tx.mail_params = params;
    server->state = ST_WAIT_MAIL;
    server->events->mail(server->ctx, server);
}

static void cmd_rcpt(struct smtp_server *server, const char *args)
{
    struct smtp_parse_result res;
    char *addr;
    struct smtp_params params;

    if (!server->tx.has_mail) {
        refuse(server, "RCPT", "503 5.5.1 Error: need MAIL command");
        return;
    }
    res = smtp_parse_rcpt(args, &addr, &params);
    if (!res.ok) {
        parse_failed(server, "RCPT", res);
        return;
    }
    if (server->config.recipient_limit > 0 &&
        server->tx.rcpt_count >= server->config.recipient_limit) {
        free(addr);
        smtp_params_free(&params);
        refuse(server, "RCPT", "452 4.5.3 Error: too many recipients");
        return;
    }
    server->pending_rcpt.addr = addr;
    server->pending_rcpt.params = params;
    server->state = ST_WAIT_RCPT;
    server->events->rcpt(server->ctx, server, &server->pending_rcpt);
}

static void cmd_data(struct smtp_server *server, const char *args)
{
    if (!server->tx.has_mail) {
        refuse(server, "DATA", "503 5.5.1 Error: need RCPT command");
        return;
    }
    if (server->tx.rcpt_count == 0) {
        refuse(server, "DATA",
               server->proto == SMTP_SERVER_PROTO_LMTP ? "503 5.5.1 Error: no valid recipients"
                                                       : "554 5.5.1 Error: no valid recipients");
        return;
    }
    if (*args != '\0') {
        refuse(server, "DATA", "501 5.5.4 Syntax: DATA");
        return;
    }
    server->state = ST_WAIT_DATA;
    server->events->data(server->ctx, server);
}

/* ---------------------------------------------------------------------
 * XFORWARD (XFORWARD_README)
 */

static int is_unavailable(const char *value)
{
    return strcmp(value, "[UNAVAILABLE]") == 0;
}

static int valid_hostname(const char *name)
{
    const char *label = name;
    const char *cp;
    int all_digits = 1;

    if (*name == '\0' || strlen(name) > 255)
        return 0;
    for (cp = name;; cp++) {
        if (*cp == '.' || *cp == '\0') {
            size_t len = (size_t)(cp - label);

            if (len == 0 || len > 63 || *label == '-' || cp[-1] == '-')
                return 0;
            if (*cp == '\0')
                break;
            label = cp + 1;
            all_digits = 1;
            continue;
        }
        if (!isalnum((unsigned char)*cp) && *cp != '-' && *cp != '_')
            return 0;
        if (!isdigit((unsigned char)*cp))
            all_digits = 0;
    }
    /* A numeric top-level label is an address, not a name (Postfix). */
    return !all_digits;
}

/* Dotted quad, each part 0..255; leading zeros pass as in Postfix's
 * valid_ipv4_hostaddr() (inet_pton would refuse them). */
static int valid_ipv4(const char *addr)
{
    const char *cp = addr;

    for (int part = 0; part < 4; part++) {
        size_t digits = strspn(cp, "0123456789");

        if (digits == 0 || digits > 3 || atoi(cp) > 255)
            return 0;
        cp += digits;
        if (part < 3 && *cp++ != '.')
            return 0;
    }
    return *cp == '\0';
}

static int valid_addr(const char *addr)
{
    unsigned char buf[16];

    if (strncasecmp(addr, "IPv6:", 5) == 0)
        return inet_pton(AF_INET6, addr + 5, buf) == 1;
    return valid_ipv4(addr) || inet_pton(AF_INET6, addr, buf) == 1;
}

static void neuter(char *value)
{
    for (; *value; value++)
        if ((unsigned char)*value < 32 || *value == 127)
            *value = '?';
}

/* Check one decoded value; returns 1 when it may be kept (possibly after
 * neutering in place). */
static int xforward_value_ok(const char *attr, char *value)
{
    if (strcasecmp(attr, "NAME") == 0)
        return is_unavailable(value) || strcmp(value, "[TEMPUNAVAIL]") == 0 ||
               valid_hostname(value);
    if (strcasecmp(attr, "ADDR") == 0)
        return is_unavailable(value) || valid_addr(value);
    if (strcasecmp(attr, "PORT") == 0)
        return is_unavailable(value) ||
               (strspn(value, "0123456789") == strlen(value) && strlen(value) <= 5);
    if (strcasecmp(attr, "SOURCE") == 0)
        return is_unavailable(value) || strcasecmp(value, "LOCAL") == 0 ||
               strcasecmp(value, "REMOTE") == 0;
    if (strcasecmp(attr, "PROTO") == 0 && strlen(value) > XFORWARD_PROTO_LIMIT)
        return 0;
    neuter(value);
    return 1;
}

static char **xforward_slot(struct smtp_xforward *xf, const char *attr)
{
    if (strcasecmp(attr, "NAME") == 0)
        return &xf->name;
    if (strcasecmp(attr, "ADDR") == 0)
        return &xf->addr;
    if (strcasecmp(attr, "PORT") == 0)
        return &xf->port;
    if (strcasecmp(attr, "PROTO") == 0)
        return &xf->proto;
    if (strcasecmp(attr, "HELO") == 0)
        return &xf->helo;
    if (strcasecmp(attr, "IDENT") == 0)
        return &xf->ident;
    if (strcasecmp(attr, "SOURCE") == 0)
        return &xf->source;
    return NULL;
}

/* Parse "attr=value"; on error returns a fresh reply text. */
static char *xforward_attr(struct smtp_xforward *xf, const char *token, size_t len)
{
    const char *eq = memchr(token, '=', len);
    char *attr, *value, *reply = NULL;
    char **slot;

    if (eq == NULL || eq + 1 == token + len)
        return xstrdup("501 5.5.4 Error: attribute=value expected");
    attr = xstrndup(token, (size_t)(eq - token));
    if ((slot = xforward_slot(xf, attr)) == NULL) {
        reply = xasprintf("501 5.5.4 Bad XFORWARD attribute name: %s", attr);
        free(attr);
        return reply;
    }
    /* Postfix names the attribute in upper case in its replies. */
    for (char *cp = attr; *cp; cp++)
        *cp = (char)toupper((unsigned char)*cp);
    if ((size_t)(token + len - eq - 1) > XFORWARD_VALUE_LIMIT) {
        reply = xstrdup("501 5.5.4 Error: attribute value too long");
    } else if ((value = smtp_xtext_decode(eq + 1, (size_t)(token + len - eq - 1))) == NULL) {
        reply =
            xasprintf("501 5.5.4 Bad %s syntax: %.*s", attr, (int)(token + len - eq - 1), eq + 1);
    } else if (!xforward_value_ok(attr, value)) {
        neuter(value);
        reply = xasprintf("501 5.5.4 Bad %s syntax: %s", attr, value);
        free(value);
    } else {
        free(*slot);
        *slot = value;
    }
    free(attr);
    return reply;
}

static void merge_xforward(struct smtp_xforward *dst, struct smtp_xforward *src)
{
    char **d[] = {&dst->name, &dst->addr,  &dst->port,  &dst->proto,
                  &dst->helo, &dst->ident, &dst->source};
    char **s[] = {&src->name, &src->addr,  &src->port,  &src->proto,
                  &src->helo, &src->ident, &src->source};

    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        if (*s[i] == NULL)
            continue;
        free(*d[i]);
        *d[i] = *s[i];
        *s[i] = NULL;
    }
}

static void cmd_xforward(struct smtp_server *server, const char *args)
{
    struct smtp_xforward xf = {0};
    const char *cp = args;
    char *reply = NULL;

    if (server->tx.has_mail) {
        refuse(server, "XFORWARD", "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    if (*args == '\0') {
        refuse(server, "XFORWARD", "501 5.5.4 Syntax: XFORWARD attribute=value...");
        return;
    }
    /* After the sequence and syntax checks, as Postfix's xforward_cmd. */
    if (server->config.xforward_denied) {
        refuse(server, "XFORWARD", "550 5.7.0 Error: insufficient authorization");
        return;
    }
    while (*cp != '\0' && reply == NULL) {
        size_t len = strcspn(cp, " \t\r\v\f");

        if (len > 0)
            reply = xforward_attr(&xf, cp, len);
        cp += len;
        cp += strspn(cp, " \t\r\v\f");
    }
    if (reply != NULL) {
        refuse(server, "XFORWARD", reply);
        free(reply);
        smtp_xforward_free(&xf);
        return;
    }
    merge_xforward(&server->tx.xforward, &xf);
    write_reply(server, "250 2.0.0 Ok");
}

/* ---------------------------------------------------------------------
 * Command dispatch
 */

static const struct command commands[] = {
    {"HELO", cmd_helo}, {"EHLO", cmd_ehlo}, {"LHLO", cmd_lhlo},         {"MAIL", cmd_mail},
    {"RCPT", cmd_rcpt}, {"DATA", cmd_data}, {"RSET", cmd_rset},         {"NOOP", cmd_noop},
    {"QUIT", cmd_quit}, {"VRFY", cmd_vrfy}, {"XFORWARD", cmd_xforward},
};

static int is_sep(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Strict UTF-8 as Postfix's valid_utf8_string(): no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *cp, size_t len)
{
    const unsigned char *end = cp + len;

    while (cp < end) {
        unsigned char c0 = *cp++;
        size_t tail;
        unsigned char lo = 0x80, hi = 0xbf;

        if (c0 <= 0x7f)
            continue;
        if (c0 >= 0xc2 && c0 <= 0xdf) {
            tail = 1;
        } else if (c0 >= 0xe0 && c0 <= 0xef) {
            tail = 2;
            lo = c0 == 0xe0 ? 0xa0 : 0x80;
            hi = c0 == 0xed ? 0x9f : 0xbf;
        } else if (c0 >= 0xf0 && c0 <= 0xf4) {
            tail = 3;
            lo = c0 == 0xf0 ? 0x90 : 0x80;
            hi = c0 == 0xf4 ? 0x8f : 0xbf;
        } else {
            return 0;
        }
        if ((size_t)(end - cp) < tail || *cp < lo || *cp > hi)
            return 0;
        for (size_t i = 0; i < tail; i++, cp++)
            if ((*cp & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

/* line is NUL-terminated; len includes any embedded NUL. */
static void run_command(struct smtp_server *server, char *line, size_t len)
{
    size_t verb_len, i;
    char *args, *end;

    if (memchr(line, '\0', len) != NULL) {
        refuse(server, "UNKNOWN", "500 5.5.2 Error: command not recognized");
        return;
    }
    /* Postfix (smtputf8_enable = yes, its default) refuses any command
     * line that is not UTF-8, whether or not SMTPUTF8 was requested: no
     * malformed UTF-8 reaches the rules, the logs or the relay. */
    if (!valid_utf8((const unsigned char *)line, len)) {
        refuse(server, "UNKNOWN", "500 5.5.2 Error: bad UTF-8 syntax");
        return;
    }
    while (*line && is_sep(*line))
        line++;
    for (verb_len = 0; line[verb_len] && !is_sep(line[verb_len]); verb_len++)
        ;
    if (verb_len == 0) {
        /* An empty or blank line: Postfix's reply for no command at all. */
        refuse(server, "UNKNOWN", "500 5.5.2 Error: bad syntax");
        return;
    }
    args = line + verb_len;
    while (*args && is_sep(*args))
        args++;
    end = args + strlen(args);
    while (end > args && is_sep(end[-1]))
        *--end = '\0';
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strlen(commands[i].name) == verb_len &&
            strncasecmp(commands[i].name, line, verb_len) == 0) {
            commands[i].handler(server, args);
            return;
        }
    }
    refuse(server, "UNKNOWN", "500 5.5.2 Error: command not recognized");
}

static size_t command_line_limit(const struct smtp_server *server)
{
    return server->config.command_line_limit ? server->config.command_line_limit
                                             : DEFAULT_COMMAND_LINE_LIMIT;
}

/* Take one command line from in and run it. Returns 0 when no complete
 * line is there (everything usable consumed), 1 otherwise. */
static int read_command(struct smtp_server *server, struct evbuffer *in)
{
    size_t limit = command_line_limit(server);
    struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
    size_t line_len;
    char *line;

    if (lf.pos < 0) {
        /* No line end yet: hold at most limit (+1 for a CR) octets. */
        if (evbuffer_get_length(in) > limit + 1) {
            server->skipping_line = 1;
            evbuffer_drain(in, evbuffer_get_length(in));
        }
        return 0;
    }
    line_len = (size_t)lf.pos;
    if (server->skipping_line || line_len > limit + 1) {
        evbuffer_drain(in, line_len + 1);
        server->skipping_line = 0;
        refuse(server, "UNKNOWN", "500 5.5.2 Error: command line too long");
        return 1;
    }
    line = xmalloc(line_len + 1);
    evbuffer_remove(in, line, line_len);
    evbuffer_drain(in, 1);
    line[line_len] = '\0';
    if (line_len > 0 && line[line_len - 1] == '\r')
        line[--line_len] = '\0';
    if (line_len > limit) {
        refuse(server, "UNKNOWN", "500 5.5.2 Error: command line too long");
    } else {
        run_command(server, line, line_len);
    }
    free(line);
    return 1;
}

/* ---------------------------------------------------------------------
 * DATA content
 */

static void end_of_data(struct smtp_server *server)
{
    const char *reply = NULL;
    size_t count = server->proto == SMTP_SERVER_PROTO_LMTP ? server->tx.rcpt_count : 1;
    size_t i;

    if (smtp_data_in_too_big(server->data_in))
        reply = "552 5.3.4 Message size exceeds fixed limit";
    else if (smtp_data_in_line_too_long(server->data_in))
        reply = "552 5.3.4 Message line too long";
    if (reply != NULL) {
        for (i = 0; i < count; i++)
            write_reply(server, reply);
        if (server->events->refused)
            server->events->refused(server->ctx, server, "END-OF-MESSAGE", reply);
        server->state = ST_COMMAND;
        end_transaction(server);
        return;
    }
    server->replies_owed = count;
    server->state = ST_WAIT_MESSAGE;
    server->events->message(server->ctx, server, server->message);
}

/* ---------------------------------------------------------------------
 * Public interface
 */

struct smtp_server *smtp_server_new(const struct smtp_server_config *config,
                                    const struct smtp_server_events *events, void *ctx,
                                    struct evbuffer *output)
{
    struct smtp_server *server = xcalloc(1, sizeof(*server));

    server->config = *config;
    server->events = events;
    server->ctx = ctx;
    server->output = output;
    server->state = ST_COMMAND;
    server->proto = SMTP_SERVER_PROTO_NONE;
    smtp_params_init(&server->tx.mail_params);
    smtp_params_init(&server->pending_rcpt.params);
    server->data_in = smtp_data_in_new(config->message_size_limit, config->data_line_limit);
    server->message = evbuffer_new();
    if (server->message == NULL)
        msg_fatal("smtp_server_new: evbuffer_new: out of memory");
    return server;
}

void smtp_server_free(struct smtp_server *server)
{
    if (server == NULL)
        return;
    /* "The session closed" ends an open transaction for the owner too. */
    if (server->state != ST_CLOSED &&
        (server->tx.has_mail || server->tx.sender != NULL || server->state != ST_COMMAND))
        end_transaction(server);
    clear_envelope(server);
    smtp_xforward_free(&server->tx.xforward);
    free(server->helo);
    smtp_data_in_free(server->data_in);
    evbuffer_free(server->message);
    free(server);
}

void smtp_server_greet(struct smtp_server *server)
{
    evbuffer_add_printf(server->output, "220 %s ESMTP scand\r\n", server->config.myhostname);
}

int smtp_server_input(struct smtp_server *server, struct evbuffer *in)
{
    /* Bounded: every pass consumes input or changes state; the input
     * buffer only shrinks. */
    for (;;) {
        switch (server->state) {
        case ST_CLOSED:
            return -1;
        case ST_WAIT_MAIL:
        case ST_WAIT_RCPT:
        case ST_WAIT_DATA:
        case ST_WAIT_MESSAGE:
            return 0;
        case ST_DATA:
            if (smtp_data_in_feed(server->data_in, in, server->message) == SMTP_DATA_IN_MORE)
                return 0;
            end_of_data(server);
            break;
        case ST_COMMAND:
            if (!read_command(server, in))
                return 0;
            break;
        }
    }
}

static void reply_mail(struct smtp_server *server, int ok)
{
    server->state = ST_COMMAND;
    if (ok) {
        server->tx.has_mail = 1;
        return;
    }
    /* No transaction is open after a refused MAIL; XFORWARD stays. */
    clear_envelope(server);
    if (server->events->reset)
        server->events->reset(server->ctx, server);
}

static void reply_rcpt(struct smtp_server *server, int ok)
{
    struct smtp_transaction *tx = &server->tx;

    server->state = ST_COMMAND;
    if (!ok) {
        free_rcpt(&server->pending_rcpt);
        return;
    }
    tx->rcpts = xrealloc(tx->rcpts, (tx->rcpt_count + 1) * sizeof(*tx->rcpts));
    tx->rcpts[tx->rcpt_count++] = server->pending_rcpt;
    server->pending_rcpt.addr = NULL;
    smtp_params_init(&server->pending_rcpt.params);
}

static void reply_data(struct smtp_server *server, int go_ahead)
{
    if (!go_ahead) {
        server->state = ST_COMMAND;
        return;
    }
    smtp_data_in_reset(server->data_in);
    evbuffer_drain(server->message, evbuffer_get_length(server->message));
    server->state = ST_DATA;
}

static void reply_message(struct smtp_server *server)
{
    if (server->replies_owed > 0)
        server->replies_owed--;
    if (server->replies_owed > 0)
        return;
    server->state = ST_COMMAND;
    end_transaction(server);
}

void smtp_server_reply(struct smtp_server *server, const char *text)
{
    enum server_state state = server->state;

    if (state != ST_WAIT_MAIL && state != ST_WAIT_RCPT && state != ST_WAIT_DATA &&
        state != ST_WAIT_MESSAGE) {
        msg_warn("smtp_server_reply: no reply expected, dropped: \"%s\"", text);
        return;
    }
    write_reply(server, text);
    switch (state) {
    case ST_WAIT_MAIL:
        reply_mail(server, text[0] == '2');
        break;
    case ST_WAIT_RCPT:
        reply_rcpt(server, text[0] == '2');
        break;
    case ST_WAIT_DATA:
        reply_data(server, text[0] == '3');
        break;
    default:
        reply_message(server);
        break;
    }
}

void smtp_server_replyf(struct smtp_server *server, const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        msg_fatal("smtp_server_replyf: out of memory");
    va_end(ap);
    smtp_server_reply(server, text);
    free(text);
}

int smtp_server_waiting(const struct smtp_server *server)
{
    return server->state == ST_WAIT_MAIL || server->state == ST_WAIT_RCPT ||
           server->state == ST_WAIT_DATA || server->state == ST_WAIT_MESSAGE;
}

int smtp_server_in_transaction(const struct smtp_server *server)
{
    return server->tx.has_mail || server->state == ST_WAIT_MAIL;
}

int smtp_server_closed(const struct smtp_server *server)
{
    return server->state == ST_CLOSED;
}

void smtp_server_timeout(struct smtp_server *server)
{
    if (server->state == ST_CLOSED)
        return;
    evbuffer_add_printf(server->output, "421 4.4.2 %s Error: timeout exceeded\r\n",
                        server->config.myhostname);
    end_transaction(server);
    server->state = ST_CLOSED;
}

const struct smtp_transaction *smtp_server_transaction(const struct smtp_server *server)
{
    return &server->tx;
}

enum smtp_server_proto smtp_server_proto(const struct smtp_server *server)
{
    return server->proto;
}

const char *smtp_server_helo(const struct smtp_server *server)
{
    return server->helo;
}
