/* attempts.c - interrupted content checks, counted on disk (see attempts.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/msg.h"
#include "scand/attempts.h"

/* The record's name only has to tell the same message on retry from other
 * messages: 128 bits of a fast non-cryptographic hash of the queue id and
 * the content (SHA-256 took 13-15 % of a worker's instructions with the
 * full rule set, perf/README.md). It is not collision resistant: a sender
 * who crafted a message to collide with one whose check had killed a
 * worker would only add to that record's count, getting its own message
 * held and the other held one attempt sooner; nothing is lost. */
struct digest {
    uint64_t a, b;
};

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* A 64-bit finaliser: every input bit affects every output bit. */
static inline uint64_t avalanche(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* Fold len bytes into d, 16 at a time in two lanes; the tail is padded
 * with its length so "ab" and "ab\0" differ. */
static void digest_add(struct digest *d, const void *data, size_t len)
{
    const unsigned char *p = data;
    const uint64_t k1 = 0x87c37b91114253d5ULL, k2 = 0x4cf5ad432745937fULL;

    for (; len >= 16; p += 16, len -= 16) {
        d->a = rotl64(d->a ^ (load64(p) * k1), 31) * k2 + d->b;
        d->b = rotl64(d->b ^ (load64(p + 8) * k2), 33) * k1 + d->a;
    }
    unsigned char tail[16] = {0};
    if (len > 0)
        memcpy(tail, p, len);
    tail[15] = (unsigned char)len;
    d->a = rotl64(d->a ^ (load64(tail) * k1), 31) * k2 + d->b;
    d->b = rotl64(d->b ^ (load64(tail + 8) * k2), 33) * k1 + d->a;
}

/* 32 hex digits naming the queue id and the content. */
static void attempts_key(const char *queue_id, const char *data, size_t len, char hex[33])
{
    struct digest d = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};

    /* The queue id with its NUL, then the content: the NUL and the tail's
     * length byte keep every boundary, so no length needs adding. */
    digest_add(&d, queue_id, strlen(queue_id) + 1);
    digest_add(&d, data, len);
    uint64_t a = avalanche(d.a + d.b), b = avalanche(d.b ^ rotl64(d.a, 17));
    snprintf(hex, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

int attempts_begin(const char *state_dir, const char *queue_id, const char *data, size_t len,
                   struct attempt *attempt)
{
    char key[33];
    char count[32];
    int previous = 0;
    int fd;

    attempt->path[0] = '\0';
    if (state_dir == NULL || *state_dir == '\0')
        return 0;
    attempts_key(queue_id ? queue_id : "", data, len, key);
    if ((size_t)snprintf(attempt->path, sizeof(attempt->path), "%s/attempt-%s", state_dir, key) >=
        sizeof(attempt->path)) {
        attempt->path[0] = '\0';
        return 0;
    }
    /* 0600 in a 0700 directory (main.c): the records say which messages
     * broke a worker. O_NOFOLLOW: never write through a planted link. */
    fd = open(attempt->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        msg_warn("%s: %s; interrupted content checks are not counted", attempt->path,
                 strerror(errno));
        attempt->path[0] = '\0';
        return 0;
    }
    if (fchmod(fd, 0600) < 0)
        msg_warn("%s: chmod 0600: %s", attempt->path, strerror(errno));
    ssize_t n = read(fd, count, sizeof(count) - 1);
    if (n > 0) {
        count[n] = '\0';
        sscanf(count, "%d", &previous);
    }
    n = snprintf(count, sizeof(count), "%d\n", previous + 1);
    if (lseek(fd, 0, SEEK_SET) < 0 || write(fd, count, (size_t)n) != n)
        msg_warn("%s: %s", attempt->path, strerror(errno));
    close(fd);
    return previous;
}

void attempts_end(struct attempt *attempt)
{
    if (attempt->path[0] != '\0' && unlink(attempt->path) < 0 && errno != ENOENT)
        msg_warn("%s: %s", attempt->path, strerror(errno));
    attempt->path[0] = '\0';
}
