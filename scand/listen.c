/*
 * listen.c - "host:port" parsing and the listening socket; see listen.h.
 *
 * The socket is bound once by the master and inherited by every worker.
 * It is non-blocking because several workers accept() on it: the one that
 * loses the race must get EAGAIN, not sleep in accept() while its other
 * sessions wait.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scand/listen.h"
#include "util/xalloc.h"

#define LISTEN_BACKLOG 128

/* A decimal port 0..65535, digits only (strtol would accept " +1"). Port 0
 * (any free port) is valid here for tests; params.c refuses it in a
 * configuration, where Postfix must know the port. */
static int listen_parse_port(const char *text, in_port_t *port)
{
    unsigned long value = 0;

    if (*text == '\0' || strlen(text) > 5)
        return -1;
    for (const char *cp = text; *cp; cp++) {
        if (*cp < '0' || *cp > '9')
            return -1;
        value = value * 10 + (unsigned long)(*cp - '0');
    }
    if (value > 65535)
        return -1;
    *port = htons((in_port_t)value);
    return 0;
}

/* Split "host:port" or "[host]:port" into a fresh host string and the port text. */
static const char *listen_split(const char *text, char **host, int *bracketed)
{
    const char *colon;

    *bracketed = text[0] == '[';
    if (*bracketed) {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return NULL;
        *host = xstrndup(text + 1, (size_t)(close - text - 1));
        return close + 2;
    }
    colon = strrchr(text, ':');
    if (colon == NULL)
        return NULL;
    *host = xstrndup(text, (size_t)(colon - text));
    return colon + 1;
}

int listen_parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
                         size_t errlen)
{
    char *host = NULL;
    int bracketed;
    const char *port_text = listen_split(text, &host, &bracketed);
    in_port_t port;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    int status = -1;

    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (port_text == NULL) {
        snprintf(err, errlen, "bad address \"%s\": expected host:port or [host]:port", text);
    } else if (listen_parse_port(port_text, &port) < 0) {
        snprintf(err, errlen, "bad address \"%s\": bad port \"%s\"", text, port_text);
    } else if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = port;
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, &sin, sizeof(sin));
        *len = sizeof(sin);
        status = 0;
    } else if (bracketed && inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = port;
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, &sin6, sizeof(sin6));
        *len = sizeof(sin6);
        status = 0;
    } else if (!bracketed && strchr(host, ':') != NULL) {
        snprintf(err, errlen, "bad address \"%s\": an IPv6 address needs brackets: [%s]:port", text,
                 host);
    } else {
        /* Only numeric addresses: no DNS lookups at startup or reload. */
        snprintf(err, errlen, "bad address \"%s\": \"%s\" is not a numeric IP address", text, host);
    }
    free(host);
    return status;
}

int listen_bind(const char *text, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;
    int on = 1;

    if (listen_parse_address(text, &ss, &len, err, errlen) < 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", text, strerror(errno));
        return -1;
    }
    /* A restart must not wait for TIME_WAIT connections of the last run. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) {
        snprintf(err, errlen, "%s: setsockopt SO_REUSEADDR: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    /* "[::]:port" means IPv6 only; IPv4 gets its own listen address. */
    if (ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
        snprintf(err, errlen, "%s: setsockopt IPV6_V6ONLY: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        snprintf(err, errlen, "%s: bind: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "%s: listen: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
