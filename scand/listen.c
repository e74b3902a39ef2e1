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

/* ---------------------------------------------------------------------
 * Who may talk to scand (listen.h). Policy: a peer is allowed only when
 * the first pattern that matches its address is not negated; no match is
 * "no". The list is parsed once per worker and consulted at every accept,
 * before a byte of the peer is read.
 */

struct listen_net {
    int family; /* AF_INET or AF_INET6 */
    int negate;
    int prefix;
    unsigned char net[16];
};

struct listen_acl {
    struct listen_net *nets;
    size_t count;
};

/* "a.b.c.d", "[v6]", "v6" (with ':'), each with an optional "/len". */
static int listen_net_parse(const char *word, struct listen_net *net, char *err, size_t errlen)
{
    const char *text = word;
    char *addr;
    const char *slash;
    size_t alen;
    int max;

    memset(net, 0, sizeof(*net));
    if (*text == '!') {
        net->negate = 1;
        text++;
    }
    slash = strchr(text, '/');
    alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen >= 2 && text[0] == '[' && text[alen - 1] == ']')
        addr = xstrndup(text + 1, alen - 2);
    else
        addr = xstrndup(text, alen);
    if (inet_pton(AF_INET, addr, net->net) == 1) {
        net->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, net->net) == 1) {
        net->family = AF_INET6;
        max = 128;
    } else {
        snprintf(err, errlen,
                 "bad network \"%s\": expected a numeric address or network "
                 "(a.b.c.d/len, [v6]/len); host names and tables are not supported here",
                 word);
        free(addr);
        return -1;
    }
    free(addr);
    net->prefix = max;
    if (slash != NULL) {
        const char *len = slash + 1;
        int value = 0;

        if (*len == '\0' || strlen(len) > 3 || strspn(len, "0123456789") != strlen(len) ||
            (value = atoi(len)) > max) {
            snprintf(err, errlen, "bad network \"%s\": bad prefix length", word);
            return -1;
        }
        net->prefix = value;
    }
    /* Postfix (cidr_match_parse) refuses host bits: "10.0.0.1/8" is
     * usually a typo for something else, not 10.0.0.0/8. */
    for (int bit = net->prefix; bit < max; bit++) {
        if (net->net[bit / 8] & (0x80 >> (bit % 8))) {
            snprintf(err, errlen, "bad network \"%s\": non-null host address bits", word);
            return -1;
        }
    }
    return 0;
}

struct listen_acl *listen_acl_parse(const char *text, char *err, size_t errlen)
{
    struct listen_acl *acl = xcalloc(1, sizeof(*acl));
    const char *cp = text;

    while (*cp != '\0') {
        size_t span;
        char *word;
        struct listen_net net;

        cp += strspn(cp, ", \t\r\n");
        span = strcspn(cp, ", \t\r\n");
        if (span == 0)
            break;
        word = xstrndup(cp, span);
        cp += span;
        if (listen_net_parse(word, &net, err, errlen) < 0) {
            free(word);
            listen_acl_free(acl);
            return NULL;
        }
        free(word);
        acl->nets = xrealloc(acl->nets, (acl->count + 1) * sizeof(*acl->nets));
        acl->nets[acl->count++] = net;
    }
    return acl;
}

void listen_acl_free(struct listen_acl *acl)
{
    if (acl == NULL)
        return;
    free(acl->nets);
    free(acl);
}

size_t listen_acl_size(const struct listen_acl *acl)
{
    return acl->count;
}

/* The peer as family and bytes; an IPv4-mapped IPv6 address as IPv4. */
static int listen_peer_bytes(const struct sockaddr *addr, unsigned char bytes[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (addr->sa_family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        return AF_INET;
    }
    if (addr->sa_family == AF_INET6) {
        const unsigned char *a =
            (const unsigned char *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            memcpy(bytes, a + 12, 4);
            return AF_INET;
        }
        memcpy(bytes, a, 16);
        return AF_INET6;
    }
    return AF_UNSPEC;
}

static int listen_net_match(const struct listen_net *net, int family, const unsigned char *bytes)
{
    int full = net->prefix / 8;
    int rest = net->prefix % 8;

    if (net->family != family || memcmp(net->net, bytes, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((net->net[full] ^ bytes[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int listen_acl_match(const struct listen_acl *acl, const struct sockaddr *addr)
{
    unsigned char bytes[16];
    int family = listen_peer_bytes(addr, bytes);

    if (family == AF_UNSPEC)
        return 0;
    for (size_t i = 0; i < acl->count; i++)
        if (listen_net_match(&acl->nets[i], family, bytes))
            return !acl->nets[i].negate;
    return 0;
}

void listen_addr_text(const struct sockaddr *addr, char *buf, size_t len)
{
    unsigned char bytes[16];
    int family = listen_peer_bytes(addr, bytes);

    if (family == AF_UNSPEC || inet_ntop(family, bytes, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "unknown");
}
