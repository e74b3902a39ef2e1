/* attempts.c - interrupted content checks, counted on disk (see attempts.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/msg.h"
#include "scand/attempts.h"

/* Hex SHA-256 of the queue id and the content: the same message on retry. */
static int attempts_key(const char *queue_id, const char *data, size_t len, char *hex,
                        size_t hexlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, queue_id, strlen(queue_id) + 1) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
        EVP_MD_CTX_free(ctx);
        return -1;
    }
    EVP_MD_CTX_free(ctx);
    if (hexlen < 2 * (size_t)mdlen + 1)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int attempts_begin(const char *state_dir, const char *queue_id, const char *data, size_t len,
                   struct attempt *attempt)
{
    char key[2 * EVP_MAX_MD_SIZE + 1];
    char count[32];
    int previous = 0;
    int fd;

    attempt->path[0] = '\0';
    if (state_dir == NULL || *state_dir == '\0' ||
        attempts_key(queue_id ? queue_id : "", data, len, key, sizeof(key)) < 0)
        return 0;
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
