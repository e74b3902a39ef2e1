/*
 * smtp_data_out.h - the one encoder for content sent to the relay (promise 3).
 *
 * Input is content as stored by smtp_data_in: lines ending in CRLF, possibly
 * with a bare CR or LF inside, possibly a last line without CRLF. Output is
 * canonical SMTP: every line ends in CRLF, a stray CR or LF inside a line is
 * replaced by a space (as Postfix's cleanup does), a line starting with '.'
 * gets one more '.' (done last), and ".\r\n" terminates. The only CRLF.CRLF
 * in the output is the terminator.
 */
#ifndef SCAND_SMTP_DATA_OUT_H
#define SCAND_SMTP_DATA_OUT_H

#include <event2/buffer.h>

/* Append the encoded content of src (not modified) and the terminator to dst. */
void smtp_data_out_encode(struct evbuffer *dst, struct evbuffer *src);

#endif
