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

/*
 * Who may talk to scand: a list of networks in Postfix's notation
 * (mynetworks style), separated by commas and/or white space:
 * "127.0.0.0/8, [::1]/128", "192.0.2.7", "[2001:db8::]/32", "2001:db8::/32",
 * "!127.0.0.2" (the first pattern that matches decides; "!" makes that
 * decision "no"). Only numeric networks: host names, type:table and /file
 * patterns are refused (no DNS, no files to watch for a decision made at
 * every connect). Host bits must be zero, as Postfix requires. An IPv4 peer
 * seen as ::ffff:a.b.c.d on an IPv6 socket is matched as IPv4.
 */
struct listen_acl;

/* Parse text; NULL with "bad network \"x\": why" in err. An empty text
 * gives a list that matches nothing. */
struct listen_acl *listen_acl_parse(const char *text, char *err, size_t errlen);
void listen_acl_free(struct listen_acl *acl);
/* 1 when the first matching pattern allows addr, 0 otherwise. */
int listen_acl_match(const struct listen_acl *acl, const struct sockaddr *addr);
/* Patterns in the list (0 for an empty one). */
size_t listen_acl_size(const struct listen_acl *acl);

/* The numeric address of a peer, as "127.0.0.1" or "::1" (IPv4-mapped
 * IPv6 shown as IPv4). */
void listen_addr_text(const struct sockaddr *addr, char *buf, size_t len);

#endif
