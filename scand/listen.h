/*
 * listen.h - socket addresses in scand's "host:port" syntax, and the
 * listening socket the master binds before it forks its workers.
 *
 * Syntax (as Postfix's inet_listen / host_port): "127.0.0.1:10025",
 * "[::1]:10025" (an IPv6 address needs brackets), and "[127.0.0.1]:10025"
 * (brackets allowed for IPv4 too, as in a Postfix nexthop). Only numeric
 * addresses and numeric ports: no DNS lookups, ever (a filter that waits
 * for DNS at startup is a filter Postfix cannot reach). Port 0 parses (the
 * kernel picks a port, useful in tests); params.c refuses it in a config.
 */
#ifndef SCAND_LISTEN_H
#define SCAND_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Parse text into *ss and *len. Returns 0, or -1 with a message naming the
 * text in err (e.g. "bad address \"foo\": port missing"). */
int listen_parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
                         size_t errlen);

/* Parse text, make a non-blocking, close-on-exec TCP socket with
 * SO_REUSEADDR, bind and listen (backlog 128). Returns the descriptor, or
 * -1 with "TEXT: what went wrong: strerror" in err. */
int listen_bind(const char *text, char *err, size_t errlen);

#endif
