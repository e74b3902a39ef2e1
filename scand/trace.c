/* trace.c - Received: counting and the trace header (see trace.h). */
#include <strings.h>
#include <string.h>
#include <time.h>

#include "util/xalloc.h"
#include "scand/trace.h"

size_t trace_count_received(struct evbuffer *message, size_t limit)
{
    struct evbuffer_ptr pos;
    size_t count = 0;
    char head[10];

    evbuffer_ptr_set(message, &pos, 0, EVBUFFER_PTR_SET);
    while (count <= limit) {
        size_t eol_len = 0;
        struct evbuffer_ptr eol =
            evbuffer_search_eol(message, &pos, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
        size_t line_len = eol.pos < 0 ? evbuffer_get_length(message) - (size_t)pos.pos
                                      : (size_t)(eol.pos - pos.pos);

        if (line_len == 0)
            break; /* end of the header block */
        if (line_len >= 9 && evbuffer_copyout_from(message, &pos, head, 9) == 9 &&
            strncasecmp(head, "Received:", 9) == 0)
            count++;
        if (eol.pos < 0)
            break;
        if (evbuffer_ptr_set(message, &pos, line_len + eol_len, EVBUFFER_PTR_ADD) < 0)
            break;
    }
    return count;
}

static int trace_safe_word(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 255)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 127 || *s == '(' || *s == ')' ||
            *s == ';' || *s == '<' || *s == '>')
            return 0;
    return 1;
}

void trace_prepend_received(struct evbuffer *message, const struct trace_info *info)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    struct evbuffer *header = evbuffer_new();

    localtime_r(&now, &tm);
    /* RFC 5322 3.3 date-time, as Postfix writes it (mail_date.c). */
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
    evbuffer_add_printf(header, "Received: from %s ([%s])\r\n\tby %s (scand) with %s",
                        trace_safe_word(info->helo) ? info->helo : "unknown",
                        info->peer_addr ? info->peer_addr : "unknown", info->myhostname,
                        info->protocol);
    if (trace_safe_word(info->queue_id))
        evbuffer_add_printf(header, " id %s", info->queue_id);
    if (info->recipient != NULL && trace_safe_word(info->recipient))
        evbuffer_add_printf(header, "\r\n\tfor <%s>", info->recipient);
    evbuffer_add_printf(header, ";\r\n\t%s\r\n", date);
    evbuffer_prepend_buffer(message, header);
    evbuffer_free(header);
}
