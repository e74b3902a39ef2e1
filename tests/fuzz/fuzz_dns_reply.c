/*
 * fuzz_dns_reply.c - dns_reply_parse() (scand/dns_reply.h), the parser of
 * DNS replies as they come off the network, and the struct dns_result
 * helpers. Checks what the header promises, whatever the bytes:
 * OK exactly when there are records; why NULL for OK and set otherwise;
 * every text non-NULL and NUL-terminated (ASan sees strlen overrun);
 * ttl capped at one day and 0 for RETRY; A/AAAA texts are addresses,
 * MX/PTR texts lower case, pref 0 but for MX; a copy equals its original.
 *
 * Input: byte 0 picks the query type (bits 0-2, modulo 5) and c-ares'
 * status (bits 3-4: SUCCESS, ENOTFOUND, ENODATA, SUCCESS); the rest is
 * the DNS message. Seeds: corpus/fuzz_dns_reply/, made by
 * tests/fuzz/make_dns_reply_seeds.py.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "scand/dns_reply.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const int statuses[4] = {ARES_SUCCESS, ARES_ENOTFOUND, ARES_ENODATA, ARES_SUCCESS};

static void check_record(const struct rules_dns_record *rec, enum rules_dns_type type)
{
    unsigned char addr[sizeof(struct in6_addr)];
    size_t len;

    CHECK(rec->text != NULL);
    len = strlen(rec->text);
    switch (type) {
    case RULES_DNS_A:
        CHECK(inet_pton(AF_INET, rec->text, addr) == 1);
        break;
    case RULES_DNS_AAAA:
        CHECK(inet_pton(AF_INET6, rec->text, addr) == 1);
        break;
    case RULES_DNS_MX:
    case RULES_DNS_PTR:
        for (size_t i = 0; i < len; i++)
            CHECK(!isupper((unsigned char)rec->text[i]));
        break;
    case RULES_DNS_TXT:
        break;
    }
    CHECK(rec->pref <= 65535);
    CHECK(type == RULES_DNS_MX || rec->pref == 0);
}

static void check_result(const struct dns_result *r, enum rules_dns_type type)
{
    CHECK(r->status == RULES_DNS_OK || r->status == RULES_DNS_NOTFOUND ||
          r->status == RULES_DNS_NODATA || r->status == RULES_DNS_RETRY);
    CHECK((r->status == RULES_DNS_OK) == (r->count >= 1));
    CHECK((r->count == 0) == (r->records == NULL));
    CHECK((r->status == RULES_DNS_OK) == (r->why == NULL));
    CHECK(r->ttl <= DNS_REPLY_TTL_MAX);
    CHECK(r->status != RULES_DNS_RETRY || r->ttl == 0);
    for (size_t i = 0; i < r->count; i++)
        check_record(&r->records[i], type);
}

static void check_copy(const struct dns_result *r)
{
    struct dns_result copy;

    dns_result_copy(&copy, r);
    CHECK(copy.status == r->status && copy.count == r->count && copy.ttl == r->ttl &&
          copy.why == r->why);
    for (size_t i = 0; i < r->count; i++) {
        CHECK(copy.records[i].text != r->records[i].text);
        CHECK(strcmp(copy.records[i].text, r->records[i].text) == 0);
        CHECK(copy.records[i].pref == r->records[i].pref);
    }
    dns_result_clear(&copy);
    CHECK(copy.count == 0 && copy.records == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum rules_dns_type type;
    struct dns_result result;

    if (size == 0 || size - 1 > 65535)
        return 0;
    type = (enum rules_dns_type)((data[0] & 7) % 5);
    dns_reply_parse(statuses[(data[0] >> 3) & 3], data + 1, (int)(size - 1), type, &result);
    check_result(&result, type);
    check_copy(&result);
    dns_result_clear(&result);
    return 0;
}
