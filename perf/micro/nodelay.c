/* perf/micro/nodelay.c - LD_PRELOAD experiment (not for production): sets
 * TCP_NODELAY on every socket a process connects or accepts, to measure what
 * Nagle's algorithm costs scand without changing scand. See perf/README.md,
 * "What to fix next".
 *   gcc -O2 -shared -fPIC -o /tmp/nodelay.so perf/micro/nodelay.c -ldl
 *   printf '#!/bin/sh\nLD_PRELOAD=/tmp/nodelay.so exec build-p2/bin/scand "$@"\n' >/tmp/scand-nd
 *   chmod +x /tmp/scand-nd; perf/bench --scand /tmp/scand-nd ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static void nd(int fd) { int one = 1; if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); }
int connect(int fd, const struct sockaddr *a, socklen_t l) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "connect");
    nd(fd); return real(fd, a, l);
}
int accept(int fd, struct sockaddr *a, socklen_t *l) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = dlsym(RTLD_NEXT, "accept");
    int r = real(fd, a, l); nd(r); return r;
}
int accept4(int fd, struct sockaddr *a, socklen_t *l, int fl) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = dlsym(RTLD_NEXT, "accept4");
    int r = real(fd, a, l, fl); nd(r); return r;
}
