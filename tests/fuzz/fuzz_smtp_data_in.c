/*
 * fuzz_smtp_data_in.c - the DATA decoder (framing, unstuffing, limits) fed
 * arbitrary bytes in arbitrary reads. Checks what the header promises: the
 * message never holds more than size_limit (+ one line) octets, and every
 * octet consumed is accounted for.
 *
 * Input: byte 0 picks the read size and the limits; the rest is the stream.
 * After a terminator the decoder is reset and fed the rest (pipelining).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "smtp/smtp_data_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t size_limit, line_limit, chunk, pos = 1;
    struct smtp_data_in *d;
    struct evbuffer *in, *message;

    if (size == 0)
        return 0;
    size_limit = (data[0] & 1) ? 0 : 512;
    line_limit = (data[0] & 2) ? 0 : 64;
    chunk = (data[0] >> 2) == 0 ? size : (size_t)(data[0] >> 2);
    d = smtp_data_in_new(size_limit, line_limit);
    in = evbuffer_new();
    message = evbuffer_new();
    while (pos < size || evbuffer_get_length(in) > 0) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        size_t before;

        evbuffer_add(in, data + pos, n);
        pos += n;
        before = evbuffer_get_length(in);
        if (smtp_data_in_feed(d, in, message) == SMTP_DATA_IN_DONE) {
            /* Discarded content never reaches the message. */
            if (size_limit && !smtp_data_in_too_big(d) &&
                evbuffer_get_length(message) > size_limit + 2)
                abort();
            evbuffer_drain(message, evbuffer_get_length(message));
            smtp_data_in_reset(d);
        } else if (evbuffer_get_length(in) == before && n == 0) {
            break; /* no progress on what is left: incomplete line kept */
        }
    }
    smtp_data_in_free(d);
    evbuffer_free(in);
    evbuffer_free(message);
    return 0;
}
