/* divert.c - one message on a connection of its own (see divert.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/msg.h"
#include "util/xalloc.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "scand/divert.h"
#include "scand/listen.h"

struct divert {
    struct relay_config config;
    char *config_name;
    struct relay *relay;
    struct evbuffer *content;
    divert_done_fn done;
    void *arg;
    size_t pending_rcpts;
    char *failure; /* first MAIL/RCPT refusal */
    int cancelled;
    int finished;
};

static void divert_finish(struct divert *divert, const char *reply_text)
{
    struct relay *relay = divert->relay;

    if (divert->finished)
        return;
    divert->finished = 1;
    if (!divert->cancelled)
        divert->done(divert->arg, reply_text);
    divert->relay = NULL;
    /* Completions arriving during release see finished and do nothing;
     * the relay is freed from the loop, after this struct goes. */
    relay_release(relay);
    free(divert->failure);
    free(divert->config_name);
    free(divert);
}

static void divert_data_done(void *arg, const struct smtp_reply *reply)
{
    struct divert *divert = arg;

    if (divert->finished)
        return;
    divert_finish(divert, reply->text);
}

static void divert_note_failure(struct divert *divert, const struct smtp_reply *reply)
{
    if (divert->failure == NULL && (reply->code < 200 || reply->code >= 300))
        divert->failure = xstrdup(reply->text);
}

static void divert_mail_done(void *arg, const struct smtp_reply *reply)
{
    struct divert *divert = arg;

    if (!divert->finished)
        divert_note_failure(divert, reply);
}

static void divert_rset_done(void *arg, const struct smtp_reply *reply)
{
    (void)arg;
    (void)reply;
}

static void divert_rcpt_done(void *arg, const struct smtp_reply *reply)
{
    struct divert *divert = arg;

    if (divert->finished)
        return;
    divert_note_failure(divert, reply);
    if (--divert->pending_rcpts > 0)
        return;
    if (divert->failure != NULL) {
        char *failure = xstrdup(divert->failure);
        if (relay_alive(divert->relay))
            smtp_client_rset(relay_client(divert->relay), divert_rset_done, NULL);
        divert_finish(divert, failure);
        free(failure);
        return;
    }
    relay_expect_data(divert->relay);
    smtp_client_data(relay_client(divert->relay), divert->content, divert_data_done, divert);
}

struct divert *divert_start(const struct divert_request *request, divert_done_fn done, void *arg)
{
    struct divert *divert = xcalloc(1, sizeof(*divert));
    struct smtp_client *client;

    divert->config = *request->config;
    divert->config_name = xstrdup(request->config->name);
    divert->config.name = divert->config_name;
    divert->content = request->content;
    divert->done = done;
    divert->arg = arg;
    divert->pending_rcpts = request->rcpt_count;
    divert->relay = relay_open(request->base, &divert->config);
    client = relay_client(divert->relay);
    smtp_client_mail(client, request->xforward, request->sender, request->mail_params,
                     divert_mail_done, divert);
    for (size_t i = 0; i < request->rcpt_count; i++)
        smtp_client_rcpt(client, &request->rcpts[i], divert_rcpt_done, divert);
    return divert;
}

void divert_cancel(struct divert *divert)
{
    divert->cancelled = 1;
    divert_finish(divert, NULL);
}

int divert_parse_nexthop(const char *filter, struct relay_config *config, char *err, size_t errlen)
{
    const char *colon = strchr(filter, ':');

    if (colon == NULL || colon[1] == '\0') {
        snprintf(err, errlen, "FILTER %s: no next hop", filter);
        return -1;
    }
    return listen_parse_address(colon + 1, &config->addr, &config->addr_len, err, errlen);
}
