/*
 * policy.c - one transaction's restriction decisions (see policy.h).
 *
 * Message-level side effects follow Postfix (access(5)): the last FILTER
 * and the last REDIRECT win, PREPENDs and BCCs accumulate in firing order,
 * DISCARD and HOLD stick for the rest of the transaction.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/msg.h"
#include "util/xalloc.h"
#include "scand/policy.h"

void policy_tx_init(struct policy_tx *tx, const char *queue_id)
{
    memset(tx, 0, sizeof(*tx));
    rules_tx_init(&tx->rules_tx);
    tx->queue_id = queue_id ? queue_id : "NOQUEUE";
}

static void policy_free_list(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

void policy_tx_free(struct policy_tx *tx)
{
    free(tx->discard);
    free(tx->hold);
    free(tx->filter);
    free(tx->redirect);
    policy_free_list(tx->bcc, tx->bcc_count);
    policy_free_list(tx->prepend, tx->prepend_count);
    memset(tx, 0, sizeof(*tx));
}

static const char *policy_stage_name(enum rules_stage stage)
{
    switch (stage) {
    case RULES_STAGE_RCPT:
        return "RCPT";
    case RULES_STAGE_DATA:
        return "DATA";
    default:
        return "END-OF-MESSAGE";
    }
}

const char *policy_client_addr(const char *addr, char *buf, size_t len)
{
    struct in6_addr in6;

    if (strncasecmp(addr, "IPv6:", 5) == 0)
        addr += 5;
    if (strchr(addr, ':') != NULL && inet_pton(AF_INET6, addr, &in6) == 1 &&
        inet_ntop(AF_INET6, &in6, buf, (socklen_t)len) != NULL)
        return buf;
    return addr;
}

void policy_log(const char *queue_id, const char *kind, const char *stage_name,
                const struct rules_query *query, const char *text)
{
    msg_info("%s: %s: %s from %s[%s]: %s; from=<%s>%s%s%s proto=%s helo=<%s>",
             queue_id ? queue_id : "NOQUEUE", kind, stage_name,
             query->client_name ? query->client_name : "unknown",
             query->client_addr ? query->client_addr : "unknown", text,
             query->sender ? query->sender : "", query->recipient ? " to=<" : "",
             query->recipient ? query->recipient : "", query->recipient ? ">" : "",
             query->protocol ? query->protocol : "ESMTP", query->helo ? query->helo : "");
}

static void policy_replace(char **slot, char *value)
{
    if (value == NULL)
        return;
    free(*slot);
    *slot = value;
}

static void policy_append(char ***list, size_t *count, char **items, size_t n)
{
    if (n == 0)
        return;
    *list = xrealloc(*list, (*count + n) * sizeof(**list));
    memcpy(*list + *count, items, n * sizeof(*items));
    *count += n;
}

/* Move the verdict's side effects into tx (the verdict keeps nothing). */
static void policy_merge(struct policy_tx *tx, struct rules_verdict *verdict)
{
    if (verdict->discard != NULL && tx->discard == NULL) {
        tx->discard = verdict->discard;
        verdict->discard = NULL;
    }
    if (verdict->hold != NULL && tx->hold == NULL) {
        tx->hold = verdict->hold;
        verdict->hold = NULL;
    }
    policy_replace(&tx->filter, verdict->filter);
    verdict->filter = NULL;
    policy_replace(&tx->redirect, verdict->redirect);
    verdict->redirect = NULL;
    policy_append(&tx->bcc, &tx->bcc_count, verdict->bcc, verdict->bcc_count);
    free(verdict->bcc);
    verdict->bcc = NULL;
    verdict->bcc_count = 0;
    policy_append(&tx->prepend, &tx->prepend_count, verdict->prepend, verdict->prepend_count);
    free(verdict->prepend);
    verdict->prepend = NULL;
    verdict->prepend_count = 0;
}

/* Log the notes and the rejection of a verdict, and take the rest. */
static char *policy_take(struct policy_tx *tx, struct rules_verdict *verdict,
                         const char *stage_name, const struct rules_query *query, int *disconnect)
{
    char *reply;

    for (size_t i = 0; i < verdict->note_count; i++) {
        /* Postfix's own warnings (an RBL lookup error) are plain warnings. */
        if (strcmp(verdict->notes[i].kind, "warning") == 0)
            msg_warn("%s", verdict->notes[i].text);
        else
            policy_log(tx->queue_id, verdict->notes[i].kind, stage_name, query,
                       verdict->notes[i].text);
    }
    reply = verdict->reply;
    verdict->reply = NULL;
    if (reply != NULL) {
        *disconnect = verdict->disconnect;
        /* Postfix logs 4yz and 5yz alike as "reject". */
        policy_log(tx->queue_id, "reject", stage_name, query, reply);
    }
    /* A HOLD or FILTER that fired before a later rejection still applies
     * to the message, as in Postfix. */
    policy_merge(tx, verdict);
    rules_verdict_free(verdict);
    return reply;
}

char *policy_content(struct content_rules *content, struct mime_rules *mime, const char *data,
                     size_t len, const struct rules_query *query, struct policy_tx *tx,
                     const struct rules_explain *explain, char **rewritten, size_t *rewritten_len)
{
    struct rules_verdict verdict;
    int disconnect = 0;
    char *reply = NULL;

    *rewritten = NULL;
    *rewritten_len = 0;
    if (!content_rules_empty(content)) {
        content_check(content, data, len, &verdict, rewritten, rewritten_len, explain);
        reply = policy_take(tx, &verdict, "END-OF-MESSAGE", query, &disconnect);
    }
    /* GMime looks at the message as received: edits only add or drop
     * header and body lines, and a REJECT ends inspection there too. */
    if (reply == NULL && !mime_rules_empty(mime)) {
        mime_rules_check(mime, data, len, &verdict, explain);
        reply = policy_take(tx, &verdict, "END-OF-MESSAGE", query, &disconnect);
    }
    return reply;
}

char *policy_check(struct rules *rules, enum rules_stage stage, const struct rules_query *query,
                   struct policy_tx *tx, const struct rules_explain *explain, int *disconnect,
                   int *dns_pending)
{
    struct rules_verdict verdict;

    *disconnect = 0;
    rules_check(rules, stage, query, &tx->rules_tx, &verdict, explain);
    *dns_pending = verdict.dns_pending;
    if (verdict.dns_pending) {
        rules_verdict_free(&verdict);
        return NULL;
    }
    return policy_take(tx, &verdict, policy_stage_name(stage), query, disconnect);
}
