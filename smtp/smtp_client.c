/*
 * smtp_client.c - the client side of SMTP/LMTP, used to relay to Postfix.
 *
 * Policy (what the relay's answers mean for mail; promise 1 and 2):
 *  - A greeting that is not 2yz, an EHLO/LHLO/HELO that fails, a mail loop,
 *    a malformed reply or a lost connection never turns into a 5yz: the
 *    relay's 5yz greeting says nothing about this message, so it is
 *    reported as a 4yz (first digits of the code and the enhanced status
 *    code changed from 5 to 4) and Postfix keeps the mail.
 *  - EHLO rejected under SMTP (anything but 421) falls back to HELO, as
 *    Postfix's smtp client does; under LMTP (RFC 2033 4.1) LHLO is the only
 *    greeting and its failure is final.
 *  - A server that greets with our own myhostname is ourselves: mail loop,
 *    "451 4.4.6 mail for NAME loops back to myself" (Postfix's wording).
 *  - A failed XFORWARD (e.g. the relay does not list us in
 *    smtpd_authorized_xforward_hosts) fails the transaction with that reply
 *    made 4yz, rather than relaying with the original client lost. The
 *    pipelined MAIL/RCPT of that transaction are answered with the same
 *    reply; should the relay still answer DATA with 354 the connection is
 *    declared broken (no content, no final '.'), so nothing is delivered.
 *  - Replies to RCPT, DATA and the end of data are passed on as the relay
 *    gave them (a relay 5yz is a real rejection).
 *
 * Sending: commands go out in the order queued. With PIPELINING (RFC 2920)
 * everything queued goes out at once up to and including DATA (or QUIT):
 * XFORWARD, MAIL, RCPT..., DATA in one write, as Postfix does; the content
 * waits for 354. Without PIPELINING one command is in flight at a time.
 *
 * Reentrancy: a command is taken off the queue and all state is updated
 * before its done callback runs, so callbacks may queue commands, abort, or
 * free the client (the free is deferred until the client's entry point
 * returns).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "smtp/smtp_client.h"
#include "smtp/smtp_data_out.h"
#include "smtp/smtp_xtext.h"
#include "util/msg.h"
#include "util/xalloc.h"

#define CLIENT_REPLY_LIMIT_DEFAULT 65536
#define CLIENT_XFORWARD_LINE_MAX 512 /* XFORWARD_README: command within 512 octets */

enum client_state {
    CLIENT_GREETING, /* waiting for 220 */
    CLIENT_EHLO,     /* EHLO or LHLO sent */
    CLIENT_HELO,     /* HELO sent after EHLO was rejected */
    CLIENT_READY,    /* running queued commands */
    CLIENT_FAILED,   /* greeting/EHLO failed; everything completes with failure */
    CLIENT_CLOSED,   /* aborted; everything completes with the abort reply */
};

enum cmd_kind {
    CMD_XFORWARD,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_RSET,
    CMD_QUIT,
};

enum data_phase {
    DATA_WAIT_354, /* DATA sent, waiting for 354 */
    DATA_WAIT_DOT, /* content sent, waiting for end-of-data reply(ies) */
};

#define CMD_OPT_MAX 5

struct client_cmd {
    enum cmd_kind kind;
    /* The command without parameters ("MAIL FROM:<a>"); parameters and
     * XFORWARD depend on the EHLO reply, so the line is made when sent. */
    char *text;
    char *opt[CMD_OPT_MAX];           /* "SIZE=10", "NOTIFY=NEVER", ... */
    const char *opt_ext[CMD_OPT_MAX]; /* the extension each one needs */
    int nopt;
    struct smtp_xforward *xforward; /* MAIL: attributes to forward */
    struct evbuffer *content;       /* DATA: encoded content, terminator included */
    enum data_phase phase;
    int replies_left; /* DATA: end-of-data replies still expected */
    int sent;
    smtp_client_done_fn done; /* NULL for XFORWARD, QUIT and internal RSET */
    void *arg;
    struct client_cmd *next;
};

/* XFORWARD attributes in the order Postfix sends them. */
enum {
    XF_NAME,
    XF_ADDR,
    XF_PORT,
    XF_PROTO,
    XF_HELO,
    XF_IDENT,
    XF_SOURCE,
    XF_COUNT,
};
static const char *const xf_names[XF_COUNT] = {"NAME", "ADDR",  "PORT",  "PROTO",
                                               "HELO", "IDENT", "SOURCE"};

struct smtp_client {
    struct smtp_client_config config;
    struct smtp_client_events events;
    void *ctx;
    struct evbuffer *output;
    size_t reply_limit;
    enum client_state state;
    char *server_name;
    struct smtp_reply failure; /* FAILED/CLOSED: the reply every command gets */

    /* Extensions from the EHLO reply: keywords upper-cased. */
    char **ext;
    size_t ext_count;
    size_t ext_alloc;
    int pipelining;
    int xf_attr[XF_COUNT]; /* advertised XFORWARD attributes */

    /* The command queue: head is the oldest not yet completed; those with
     * sent == 0 form the tail, starting at send_next. */
    struct client_cmd *head;
    struct client_cmd *tail;
    struct client_cmd *send_next;
    int in_flight;
    int blocking; /* DATA or QUIT in flight: nothing may follow (RFC 2920 3.1) */

    /* Per transaction. */
    struct smtp_reply xf_fail; /* failed XFORWARD reply (4yz), code 0 when none */
    int poisoned;              /* XFORWARD failed: the transaction answers xf_fail */
    int need_rset;             /* the relay holds a transaction we abandoned */
    int rcpt_ok;               /* RCPTs answered 2yz (LMTP: end-of-data replies) */

    int depth;        /* entry points active on the stack */
    int free_pending; /* smtp_client_free called from a callback */
};

/* ---- small helpers ---- */

static void client_enter(struct smtp_client *client)
{
    client->depth++;
}

static void client_destroy(struct smtp_client *client);

/* Returns 0 when the client was freed meanwhile and must not be touched. */
static int client_leave(struct smtp_client *client)
{
    if (--client->depth == 0 && client->free_pending) {
        client_destroy(client);
        return 0;
    }
    return 1;
}

/* A callback may have aborted or freed the client: stop working on it. */
static int client_gone(const struct smtp_client *client)
{
    return client->free_pending || client->state == CLIENT_CLOSED;
}

/* xtext (RFC 3461 4): XFORWARD_README asks for it on every value. */
static void client_add_xtext(struct evbuffer *buf, const char *value)
{
    char *x = smtp_xtext_encode(value);

    evbuffer_add(buf, x, strlen(x));
    free(x);
}

static char *client_buffer_string(struct evbuffer *buf)
{
    size_t len = evbuffer_get_length(buf);
    char *s = xmalloc(len + 1);

    evbuffer_remove(buf, s, len);
    s[len] = 0;
    return s;
}

static struct evbuffer *client_evbuffer_new(void)
{
    struct evbuffer *buf = evbuffer_new();

    if (buf == NULL)
        msg_fatal("smtp_client: out of memory");
    return buf;
}

/* A 5yz that must not reach Postfix as a rejection becomes the same reply
 * as 4yz: "554 5.3.0 x" -> "454 4.3.0 x", on every line. */
static void client_soften(struct smtp_reply *reply)
{
    if (reply->code / 100 != 5)
        return;
    reply->code -= 100;
    for (char *line = reply->text; line != NULL;) {
        if (line[0] == '5')
            line[0] = '4';
        if (strlen(line) > 5 && line[3] == ' ' && line[4] == '5' && line[5] == '.')
            line[4] = '4';
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
}

/* ---- the queue ---- */

static struct client_cmd *cmd_new(enum cmd_kind kind, char *text, smtp_client_done_fn done,
                                  void *arg)
{
    struct client_cmd *cmd = xcalloc(1, sizeof(*cmd));

    cmd->kind = kind;
    cmd->text = text;
    cmd->done = done;
    cmd->arg = arg;
    return cmd;
}

/* A parameter sent only when the server announced ext; value is taken. */
static void cmd_add_opt(struct client_cmd *cmd, const char *ext, char *value)
{
    if (cmd->nopt >= CMD_OPT_MAX)
        msg_panic("smtp_client: too many parameters");
    cmd->opt_ext[cmd->nopt] = ext;
    cmd->opt[cmd->nopt++] = value;
}

static void client_xforward_free(struct smtp_xforward *xf)
{
    if (xf == NULL)
        return;
    smtp_xforward_free(xf);
    free(xf);
}

static struct smtp_xforward *client_xforward_dup(const struct smtp_xforward *src)
{
    struct smtp_xforward *xf = xcalloc(1, sizeof(*xf));

    smtp_xforward_copy(xf, src);
    return xf;
}

static void cmd_free(struct client_cmd *cmd)
{
    free(cmd->text);
    for (int i = 0; i < cmd->nopt; i++)
        free(cmd->opt[i]);
    client_xforward_free(cmd->xforward);
    if (cmd->content != NULL)
        evbuffer_free(cmd->content);
    free(cmd);
}

static void client_append(struct smtp_client *client, struct client_cmd *cmd)
{
    if (client->tail != NULL)
        client->tail->next = cmd;
    else
        client->head = cmd;
    client->tail = cmd;
    if (client->send_next == NULL)
        client->send_next = cmd;
}

/* Put the list first..last just before send_next (the next to be sent). */
static void client_insert_unsent(struct smtp_client *client, struct client_cmd *first,
                                 struct client_cmd *last)
{
    struct client_cmd **pp = &client->head;

    while (*pp != client->send_next)
        pp = &(*pp)->next;
    last->next = *pp;
    *pp = first;
    if (last->next == NULL)
        client->tail = last;
    client->send_next = first;
}

static struct client_cmd *client_pop(struct smtp_client *client)
{
    struct client_cmd *cmd = client->head;

    client->head = cmd->next;
    if (client->head == NULL)
        client->tail = NULL;
    if (client->send_next == cmd)
        client->send_next = cmd->next;
    if (cmd->sent)
        client->in_flight--;
    cmd->next = NULL;
    return cmd;
}

/* ---- sending ---- */

static int cmd_blocks(const struct client_cmd *cmd)
{
    return cmd->kind == CMD_DATA || cmd->kind == CMD_QUIT;
}

/* "XFORWARD NAME=a ADDR=b" commands, each line within 512 octets with its
 * CRLF, for the attributes the server announced and we have, in Postfix's
 * order; put before the MAIL that is about to be sent. */
static void client_expand_xforward(struct smtp_client *client, const struct smtp_xforward *xf)
{
    const char *values[XF_COUNT] = {xf->name, xf->addr,  xf->port,  xf->proto,
                                    xf->helo, xf->ident, xf->source};
    struct client_cmd *first = NULL;
    struct client_cmd *last = NULL;
    struct evbuffer *line = client_evbuffer_new();
    struct evbuffer *attr = client_evbuffer_new();

    for (int i = 0; i <= XF_COUNT; i++) {
        size_t alen = 0;
        if (i < XF_COUNT) {
            if (!client->xf_attr[i] || values[i] == NULL)
                continue;
            evbuffer_add_printf(attr, " %s=", xf_names[i]);
            client_add_xtext(attr, values[i]);
            alen = evbuffer_get_length(attr);
            if (strlen("XFORWARD") + alen + 2 > CLIENT_XFORWARD_LINE_MAX) {
                msg_warn("smtp_client: XFORWARD %s value too long, not sent", xf_names[i]);
                evbuffer_drain(attr, alen);
                continue;
            }
        }
        /* Flush the line when this attribute does not fit, or at the end. */
        size_t llen = evbuffer_get_length(line);
        if (llen > 0 && (i == XF_COUNT || llen + alen + 2 > CLIENT_XFORWARD_LINE_MAX)) {
            struct client_cmd *cmd = cmd_new(CMD_XFORWARD, client_buffer_string(line), NULL, NULL);
            if (last != NULL)
                last->next = cmd;
            else
                first = cmd;
            last = cmd;
        }
        if (i == XF_COUNT)
            break;
        if (evbuffer_get_length(line) == 0)
            evbuffer_add(line, "XFORWARD", strlen("XFORWARD"));
        evbuffer_add_buffer(line, attr);
    }
    evbuffer_free(line);
    evbuffer_free(attr);
    if (first != NULL)
        client_insert_unsent(client, first, last);
}

static void client_write_cmd(struct smtp_client *client, const struct client_cmd *cmd)
{
    evbuffer_add(client->output, cmd->text, strlen(cmd->text));
    for (int i = 0; i < cmd->nopt; i++)
        if (smtp_client_has_ext(client, cmd->opt_ext[i]))
            evbuffer_add_printf(client->output, " %s", cmd->opt[i]);
    evbuffer_add(client->output, "\r\n", 2);
}

static void client_send_queued(struct smtp_client *client)
{
    while (client->state == CLIENT_READY && client->send_next != NULL) {
        struct client_cmd *cmd = client->send_next;

        if (client->in_flight > 0 && (!client->pipelining || client->blocking))
            return;
        /* A new transaction while the relay still holds one we gave up. */
        if ((cmd->kind == CMD_XFORWARD || cmd->kind == CMD_MAIL) && client->need_rset) {
            struct client_cmd *rset = cmd_new(CMD_RSET, xstrdup("RSET"), NULL, NULL);
            client->need_rset = 0;
            client_insert_unsent(client, rset, rset);
            continue;
        }
        if (cmd->kind == CMD_MAIL && cmd->xforward != NULL) {
            struct smtp_xforward *xf = cmd->xforward;
            cmd->xforward = NULL;
            client_expand_xforward(client, xf);
            client_xforward_free(xf);
            continue;
        }
        if (cmd->kind == CMD_RSET)
            client->need_rset = 0;
        client_write_cmd(client, cmd);
        cmd->sent = 1;
        client->in_flight++;
        client->send_next = cmd->next;
        if (cmd_blocks(cmd))
            client->blocking = 1;
    }
}

/* ---- completion ---- */

/* Complete cmd (already off the queue) with reply, then free it. Under LMTP a
 * DATA whose content went out completes once per reply still expected. */
static void client_complete(struct smtp_client *client, struct client_cmd *cmd,
                            const struct smtp_reply *reply)
{
    int times = 1;

    if (cmd->kind == CMD_DATA && cmd->phase == DATA_WAIT_DOT && cmd->replies_left > 1)
        times = cmd->replies_left;
    for (int i = 0; i < times && cmd->done != NULL && !client->free_pending; i++)
        cmd->done(cmd->arg, reply);
    cmd_free(cmd);
}

/* Complete every command with client->failure (FAILED/CLOSED states). A
 * copy is handed out: a callback may abort again and replace the original. */
static void client_fail_all(struct smtp_client *client)
{
    struct smtp_reply failure = {0, NULL};

    smtp_reply_copy(&failure, &client->failure);
    while (client->head != NULL && !client->free_pending) {
        struct client_cmd *cmd = client_pop(client);

        client_complete(client, cmd, &failure);
    }
    client->in_flight = 0;
    client->blocking = 0;
    smtp_reply_free(&failure);
}

/* A command queued after the connection failed completes at once. */
static void client_queue(struct smtp_client *client, struct client_cmd *cmd)
{
    client_enter(client);
    if (client->state == CLIENT_FAILED || client->state == CLIENT_CLOSED) {
        struct smtp_reply failure = {0, NULL};
        smtp_reply_copy(&failure, &client->failure);
        client_complete(client, cmd, &failure);
        smtp_reply_free(&failure);
    } else {
        client_append(client, cmd);
        client_send_queued(client);
    }
    client_leave(client);
}

/* ---- the greeting and EHLO ---- */

static void client_ready_fail(struct smtp_client *client, const struct smtp_reply *failure)
{
    struct smtp_reply copy = {0, NULL};

    smtp_reply_free(&client->failure);
    smtp_reply_copy(&client->failure, failure);
    client_soften(&client->failure);
    smtp_reply_copy(&copy, &client->failure);
    client->state = CLIENT_FAILED;
    if (client->events.ready != NULL)
        client->events.ready(client->ctx, client, &copy);
    smtp_reply_free(&copy);
    if (!client->free_pending)
        client_fail_all(client);
}

/* The first word after the code on the reply's first line. */
static char *client_first_word(const struct smtp_reply *reply)
{
    const char *s = reply->text;

    if (strlen(s) < 4)
        return xstrdup("");
    s += 4;
    return xstrndup(s, strcspn(s, " \t\n"));
}

/* RFC 5321 4.2 greeting / 4.1.1.1 EHLO reply: both name the server. */
static int client_loop_check(struct smtp_client *client, const struct smtp_reply *reply)
{
    char *name = client_first_word(reply);
    int loop =
        client->config.myhostname != NULL && strcasecmp(name, client->config.myhostname) == 0;

    if (loop) {
        struct smtp_reply fail = {0, NULL};
        char *text = xasprintf("451 4.4.6 mail for %s loops back to myself", name);

        msg_warn("host %s greeted me with my own hostname %s", name, client->config.myhostname);
        smtp_reply_set(&fail, text);
        client_ready_fail(client, &fail);
        smtp_reply_free(&fail);
        free(text);
    }
    free(name);
    return loop;
}

static void client_add_ext(struct smtp_client *client, const char *line)
{
    size_t klen = strcspn(line, " =");
    char *kw = xstrndup(line, klen);

    for (char *p = kw; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    client->ext = xgrow(client->ext, &client->ext_alloc, client->ext_count + 1, sizeof(char *));
    client->ext[client->ext_count++] = kw;
    if (strcmp(kw, "PIPELINING") == 0)
        client->pipelining = 1;
    if (strcmp(kw, "XFORWARD") == 0) {
        const char *p = line + klen;
        while (*p) {
            p += strspn(p, " ");
            size_t alen = strcspn(p, " ");
            for (int i = 0; i < XF_COUNT; i++)
                if (strlen(xf_names[i]) == alen && strncasecmp(p, xf_names[i], alen) == 0)
                    client->xf_attr[i] = 1;
            p += alen;
        }
    }
}

/* Lines after the first of a 250 EHLO reply: "250 KEYWORD params". */
static void client_parse_ehlo(struct smtp_client *client, const struct smtp_reply *reply)
{
    const char *line = strchr(reply->text, '\n');

    while (line != NULL) {
        line++;
        size_t len = strcspn(line, "\n");
        if (len > 4) {
            char *ext = xstrndup(line + 4, len - 4);
            client_add_ext(client, ext);
            free(ext);
        }
        line = strchr(line, '\n');
    }
}

static void client_send_line(struct smtp_client *client, const char *verb)
{
    evbuffer_add_printf(client->output, "%s %s\r\n", verb,
                        client->config.myhostname ? client->config.myhostname : "localhost");
}

static void client_became_ready(struct smtp_client *client)
{
    client->state = CLIENT_READY;
    if (client->events.ready != NULL)
        client->events.ready(client->ctx, client, NULL);
    if (!client_gone(client))
        client_send_queued(client);
}

static void client_on_greeting(struct smtp_client *client, const struct smtp_reply *reply)
{
    free(client->server_name);
    client->server_name = client_first_word(reply);
    if (reply->code / 100 != 2) {
        client_ready_fail(client, reply);
        return;
    }
    if (client_loop_check(client, reply))
        return;
    client->state = CLIENT_EHLO;
    client_send_line(client, client->config.lmtp ? "LHLO" : "EHLO");
}

static void client_on_ehlo(struct smtp_client *client, const struct smtp_reply *reply)
{
    if (reply->code / 100 != 2) {
        /* Postfix falls back to HELO unless the server is going away. */
        if (client->config.lmtp || reply->code == 421) {
            client_ready_fail(client, reply);
        } else {
            client->state = CLIENT_HELO;
            client_send_line(client, "HELO");
        }
        return;
    }
    if (client_loop_check(client, reply))
        return;
    client_parse_ehlo(client, reply);
    client_became_ready(client);
}

static void client_on_helo(struct smtp_client *client, const struct smtp_reply *reply)
{
    if (reply->code / 100 != 2) {
        client_ready_fail(client, reply);
        return;
    }
    if (client_loop_check(client, reply))
        return;
    client_became_ready(client);
}

/* ---- replies to queued commands ---- */

/* The server broke the protocol: every command completes with a 4yz. */
static void client_protocol_error(struct smtp_client *client, const char *why)
{
    msg_warn("smtp_client: relay %s: %s", client->server_name ? client->server_name : "(unknown)",
             why);
    if (client->state == CLIENT_GREETING || client->state == CLIENT_EHLO ||
        client->state == CLIENT_HELO) {
        struct smtp_reply fail = {0, NULL};
        smtp_reply_set(&fail, "451 4.5.0 Error: protocol error from relay");
        client_ready_fail(client, &fail);
        smtp_reply_free(&fail);
        client->state = CLIENT_CLOSED;
        return;
    }
    smtp_reply_free(&client->failure);
    smtp_reply_set(&client->failure, "451 4.5.0 Error: protocol error from relay");
    client->state = CLIENT_CLOSED;
    client_fail_all(client);
}

/* The reply a command of a poisoned transaction reports. */
static const struct smtp_reply *client_txn_reply(struct smtp_client *client,
                                                 const struct smtp_reply *reply)
{
    return client->poisoned ? &client->xf_fail : reply;
}

static void client_on_xforward(struct smtp_client *client, const struct smtp_reply *reply)
{
    cmd_free(client_pop(client));
    if (reply->code / 100 != 2 && client->xf_fail.code == 0) {
        msg_warn("smtp_client: relay rejected XFORWARD: %s", reply->text);
        smtp_reply_copy(&client->xf_fail, reply);
        client_soften(&client->xf_fail);
    }
}

static void client_on_mail(struct smtp_client *client, const struct smtp_reply *reply)
{
    struct client_cmd *cmd = client_pop(client);

    client->rcpt_ok = 0;
    client->poisoned = client->xf_fail.code != 0;
    if (client->poisoned && reply->code / 100 == 2)
        client->need_rset = 1;
    client_complete(client, cmd, client_txn_reply(client, reply));
}

static void client_on_rcpt(struct smtp_client *client, const struct smtp_reply *reply)
{
    struct client_cmd *cmd = client_pop(client);

    if (reply->code / 100 == 2 && !client->poisoned)
        client->rcpt_ok++;
    client_complete(client, cmd, client_txn_reply(client, reply));
}

/* The transaction is over (end of data, failed DATA, RSET). */
static void client_txn_end(struct smtp_client *client)
{
    smtp_reply_free(&client->xf_fail);
    client->poisoned = 0;
    client->rcpt_ok = 0;
}

/* Returns -1 on a protocol error (already handled). */
static int client_on_data(struct smtp_client *client, const struct smtp_reply *reply)
{
    struct client_cmd *cmd = client->head;

    if (cmd->phase == DATA_WAIT_354) {
        if (reply->code / 100 == 2) {
            client_protocol_error(client, "DATA answered with 2yz");
            return -1;
        }
        if (reply->code / 100 != 3) {
            struct smtp_reply copy = {0, NULL};
            client->blocking = 0;
            cmd = client_pop(client);
            smtp_reply_copy(&copy, client_txn_reply(client, reply));
            client_txn_end(client);
            client_complete(client, cmd, &copy);
            smtp_reply_free(&copy);
            return 0;
        }
        /* 354 with no accepted recipient (LMTP would owe no reply) or for a
         * transaction we gave up: never send content. */
        if (client->poisoned || (client->config.lmtp && client->rcpt_ok == 0)) {
            client_protocol_error(
                client, "354 for a transaction without recipients or with a failed XFORWARD");
            return -1;
        }
        cmd->phase = DATA_WAIT_DOT;
        cmd->replies_left = client->config.lmtp ? client->rcpt_ok : 1;
        evbuffer_add_buffer(client->output, cmd->content);
        return 0;
    }
    if (reply->code / 100 == 3) {
        client_protocol_error(client, "3yz reply to end of data");
        return -1;
    }
    /* RFC 2033 4.2: one reply per accepted recipient, in RCPT order. */
    if (--cmd->replies_left > 0) {
        if (cmd->done != NULL)
            cmd->done(cmd->arg, reply);
        return 0;
    }
    cmd = client_pop(client);
    client->blocking = 0;
    client_txn_end(client);
    cmd->replies_left = 1;
    client_complete(client, cmd, reply);
    return 0;
}

static void client_on_rset(struct smtp_client *client, const struct smtp_reply *reply)
{
    struct client_cmd *cmd = client_pop(client);

    client_txn_end(client);
    client_complete(client, cmd, reply);
}

static int client_on_command_reply(struct smtp_client *client, const struct smtp_reply *reply)
{
    struct client_cmd *cmd = client->head;

    if (cmd == NULL || !cmd->sent) {
        client_protocol_error(client, "unexpected reply");
        return -1;
    }
    if (reply->code / 100 == 3 && cmd->kind != CMD_DATA) {
        client_protocol_error(client, "3yz reply to a command other than DATA");
        return -1;
    }
    switch (cmd->kind) {
    case CMD_XFORWARD:
        client_on_xforward(client, reply);
        return 0;
    case CMD_MAIL:
        client_on_mail(client, reply);
        return 0;
    case CMD_RCPT:
        client_on_rcpt(client, reply);
        return 0;
    case CMD_DATA:
        return client_on_data(client, reply);
    case CMD_RSET:
        client_on_rset(client, reply);
        return 0;
    case CMD_QUIT:
        client->blocking = 0;
        cmd_free(client_pop(client));
        return 0;
    }
    return 0;
}

/* Returns -1 on a protocol error. */
static int client_on_reply(struct smtp_client *client, const struct smtp_reply *reply)
{
    switch (client->state) {
    case CLIENT_GREETING:
        client_on_greeting(client, reply);
        return 0;
    case CLIENT_EHLO:
        client_on_ehlo(client, reply);
        return 0;
    case CLIENT_HELO:
        client_on_helo(client, reply);
        return 0;
    case CLIENT_READY:
        if (client_on_command_reply(client, reply) < 0)
            return -1;
        if (!client_gone(client))
            client_send_queued(client);
        return 0;
    case CLIENT_FAILED:
    case CLIENT_CLOSED:
        return 0; /* the owner is closing; late replies mean nothing */
    }
    return 0;
}

/* ---- public interface ---- */

struct smtp_client *smtp_client_new(const struct smtp_client_config *config,
                                    const struct smtp_client_events *events, void *ctx,
                                    struct evbuffer *output)
{
    struct smtp_client *client = xcalloc(1, sizeof(*client));

    client->config = *config;
    client->events = *events;
    client->ctx = ctx;
    client->output = output;
    client->reply_limit = config->reply_limit ? config->reply_limit : CLIENT_REPLY_LIMIT_DEFAULT;
    client->state = CLIENT_GREETING;
    return client;
}

static void client_destroy(struct smtp_client *client)
{
    while (client->head != NULL)
        cmd_free(client_pop(client));
    for (size_t i = 0; i < client->ext_count; i++)
        free(client->ext[i]);
    free(client->ext);
    free(client->server_name);
    smtp_reply_free(&client->failure);
    smtp_reply_free(&client->xf_fail);
    free(client);
}

void smtp_client_free(struct smtp_client *client)
{
    if (client == NULL)
        return;
    if (client->depth > 0) {
        client->free_pending = 1;
        return;
    }
    client_destroy(client);
}

int smtp_client_input(struct smtp_client *client, struct evbuffer *in)
{
    int result = 0;

    client_enter(client);
    while (!client->free_pending && client->state != CLIENT_CLOSED &&
           client->state != CLIENT_FAILED) {
        struct smtp_reply reply = {0, NULL};
        enum smtp_reply_status status = smtp_reply_read(in, client->reply_limit, &reply);

        if (status == SMTP_REPLY_MORE)
            break;
        if (status == SMTP_REPLY_ERROR) {
            client_protocol_error(client, "malformed or oversized reply");
            result = -1;
            break;
        }
        if (client_on_reply(client, &reply) < 0)
            result = -1;
        smtp_reply_free(&reply);
        if (result < 0)
            break;
    }
    client_leave(client);
    return result;
}

void smtp_client_mail(struct smtp_client *client, const struct smtp_xforward *xforward,
                      const char *sender, const struct smtp_params *params,
                      smtp_client_done_fn done, void *arg)
{
    struct client_cmd *cmd =
        cmd_new(CMD_MAIL, xasprintf("MAIL FROM:<%s>", sender ? sender : ""), done, arg);

    /* RFC 1870, RFC 6152, RFC 6531, RFC 3461 4.3/4.4: each parameter only
     * when the relay announced its extension, as Postfix's smtp client does. */
    if (params != NULL) {
        if (params->size >= 0)
            cmd_add_opt(cmd, "SIZE", xasprintf("SIZE=%lld", params->size));
        if (params->body != NULL)
            cmd_add_opt(cmd, "8BITMIME", xasprintf("BODY=%s", params->body));
        if (params->smtputf8)
            cmd_add_opt(cmd, "SMTPUTF8", xstrdup("SMTPUTF8"));
        if (params->ret != NULL)
            cmd_add_opt(cmd, "DSN", xasprintf("RET=%s", params->ret));
        if (params->envid != NULL)
            cmd_add_opt(cmd, "DSN", xasprintf("ENVID=%s", params->envid));
    }
    if (xforward != NULL)
        cmd->xforward = client_xforward_dup(xforward);
    client_queue(client, cmd);
}

void smtp_client_rcpt(struct smtp_client *client, const struct smtp_rcpt *rcpt,
                      smtp_client_done_fn done, void *arg)
{
    struct client_cmd *cmd = cmd_new(CMD_RCPT, xasprintf("RCPT TO:<%s>", rcpt->addr), done, arg);

    if (rcpt->params.notify != NULL)
        cmd_add_opt(cmd, "DSN", xasprintf("NOTIFY=%s", rcpt->params.notify));
    if (rcpt->params.orcpt != NULL)
        cmd_add_opt(cmd, "DSN", xasprintf("ORCPT=%s", rcpt->params.orcpt));
    client_queue(client, cmd);
}

void smtp_client_data(struct smtp_client *client, struct evbuffer *content,
                      smtp_client_done_fn done, void *arg)
{
    struct client_cmd *cmd = cmd_new(CMD_DATA, xstrdup("DATA"), done, arg);

    /* Encoded now, so the caller's buffer need not outlive this call. */
    cmd->content = client_evbuffer_new();
    smtp_data_out_encode(cmd->content, content);
    client_queue(client, cmd);
}

void smtp_client_rset(struct smtp_client *client, smtp_client_done_fn done, void *arg)
{
    client_queue(client, cmd_new(CMD_RSET, xstrdup("RSET"), done, arg));
}

void smtp_client_quit(struct smtp_client *client)
{
    client_queue(client, cmd_new(CMD_QUIT, xstrdup("QUIT"), NULL, NULL));
}

void smtp_client_abort(struct smtp_client *client, const char *reply_text)
{
    struct smtp_reply fail = {0, NULL};

    client_enter(client);
    smtp_reply_set(&fail, reply_text);
    if (client->state == CLIENT_GREETING || client->state == CLIENT_EHLO ||
        client->state == CLIENT_HELO) {
        client_ready_fail(client, &fail);
    } else {
        smtp_reply_free(&client->failure);
        smtp_reply_copy(&client->failure, &fail);
    }
    client->state = CLIENT_CLOSED;
    if (!client->free_pending)
        client_fail_all(client);
    smtp_reply_free(&fail);
    client_leave(client);
}

int smtp_client_idle(const struct smtp_client *client)
{
    if (client->state == CLIENT_GREETING || client->state == CLIENT_EHLO ||
        client->state == CLIENT_HELO)
        return 0;
    return client->head == NULL;
}

int smtp_client_ready(const struct smtp_client *client)
{
    return client->state == CLIENT_READY;
}

const char *smtp_client_server_name(const struct smtp_client *client)
{
    return client->server_name;
}

int smtp_client_has_ext(const struct smtp_client *client, const char *keyword)
{
    for (size_t i = 0; i < client->ext_count; i++)
        if (strcasecmp(client->ext[i], keyword) == 0)
            return 1;
    return 0;
}
