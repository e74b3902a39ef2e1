/*
 * fuzz_access.c - access(5) lookups (rules/access.h) with arbitrary keys on
 * fixed small tables: an indexed (texthash) one, where partial keys are
 * derived from the key (parent domains, user@, address octets), a pcre one
 * and a cidr one.
 *
 * Input: byte 0 picks the table, the lookup and the options; the rest is
 * the key (for a client lookup: "name\0addr").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_source.h"
#include "rules/access.h"
#include "util/msg.h"

static struct table *tables[3];

static const char texthash_text[] = "example.com REJECT domain\n"
                                    ".sub.example.com OK\n"
                                    "user@ 550 user part\n"
                                    "user+ext@example.com DUNNO\n"
                                    "postmaster@example.net OK\n"
                                    "192.0.2 REJECT net\n"
                                    "2001:db8 REJECT net6\n"
                                    "<> 554 null sender\n"
                                    "foo DISCARD\n";
static const char pcre_text[] = "/^(.*)@(.*)$/ PREPEND X-User: $1 at ${2}\n"
                                "/^192\\.0\\.2\\./ REJECT\n"
                                "if !/example/\n/./ DUNNO\nendif\n";
static const char cidr_text[] = "192.0.2.0/24 REJECT\n10.0.0.0/8 OK\n2001:db8::/32 REJECT\n"
                                "!127.0.0.1 DUNNO\n";

static void trace(void *ctx, const char *key, const struct table_result *result)
{
    (void)ctx;
    (void)key;
    (void)result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct access_options options = {0};
    struct table_result result = {0};
    struct table *table;
    char *key, *addr;
    size_t keylen;
    int rc;

    if (size == 0)
        return 0;
    table = tables[(data[0] & 3) % 3];
    options.recipient_delimiter = (data[0] & 4) ? "+-" : "";
    options.parent_domain_matches_subdomains = (data[0] & 8) != 0;
    options.null_access_lookup_key = (data[0] & 16) ? "<>" : "";
    options.myorigin = (data[0] & 32) ? "origin.example" : NULL;
    key = malloc(size + 1);
    memcpy(key, data + 1, size - 1);
    key[size - 1] = '\0';
    keylen = strlen(key);
    addr = keylen + 1 < size ? key + keylen + 1 : key + keylen;
    switch (data[0] >> 6) {
    case 0:
        rc = access_lookup_address(table, key, &options, &result, trace, NULL);
        break;
    case 1:
        rc = access_lookup_hostname(table, key, &options, &result, NULL, NULL);
        break;
    default:
        rc = access_lookup_client(table, key, addr, &options, &result, trace, NULL);
        break;
    }
    if (rc != 0)
        table_result_free(&result);
    free(key);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct fuzz_source s = {0};
    char dir[256], err[512];

    (void)argc;
    (void)argv;
    msg_open("fuzz_access", 1);
    fuzz_source_dir(dir, sizeof(dir), "access");
    fuzz_source_table(&s, dir, "texthash", "texthash", texthash_text);
    fuzz_source_table(&s, dir, "pcre", "pcre", pcre_text);
    fuzz_source_table(&s, dir, "cidr", "cidr", cidr_text);
    for (int i = 0; i < 3; i++) {
        tables[i] = table_open(s.values[i], err, sizeof(err));
        if (tables[i] == NULL) {
            msg_error("%s", err);
            abort();
        }
        free(s.values[i]);
    }
    return 0;
}
