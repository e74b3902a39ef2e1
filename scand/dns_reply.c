/*
 * dns_reply.c - c-ares' status and a reply's bytes to a struct dns_result;
 * see dns_reply.h for the contract.
 *
 * Answers are parsed with glibc's libresolv (ns_initparse/ns_parserr),
 * which gives every record's TTL and the SOA of the authority section;
 * c-ares' own parsers drop both for MX and TXT.
 *
 * Policy, as Postfix's resolver maps res_query() outcomes (dns_lookup.c):
 *  - records of the asked type in the answer: RULES_DNS_OK. Through a
 *    CNAME chain only the records of the asked type are returned.
 *  - NXDOMAIN: RULES_DNS_NOTFOUND ("Host not found").
 *  - NOERROR without records of the type: RULES_DNS_NODATA ("Host found but
 *    no data record of requested type").
 *  - timeout, SERVFAIL, REFUSED, connection refused, anything else:
 *    RULES_DNS_RETRY ("Host not found, try again", Postfix's TRY_AGAIN
 *    wording); a reply that does not parse, or a record of the asked type
 *    whose data does not, is RETRY too ("Malformed or unexpected name
 *    server reply"): never a reason to reject.
 *  - a name c-ares refuses to put in a question is NOTFOUND ("invalid host
 *    or domain name"), as Postfix's DNS_INVAL is handled like not found.
 *
 * TTL: a positive answer lives for the smallest TTL of the answer records
 * (CNAMEs included); a negative one for min(SOA TTL, SOA MINIMUM) of the
 * authority section's SOA (RFC 2308 section 5), or 60 s when the server
 * sent none; both at most one day.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "scand/dns_reply.h"
#include "util/msg.h"
#include "util/xalloc.h"

#define DNS_NAME_MAX 1025 /* dn_expand output, with its NUL */

const char dns_why_notfound[] = "Host not found";
const char dns_why_nodata[] = "Host found but no data record of requested type";
const char dns_why_retry[] = "Host not found, try again";
const char dns_why_malformed[] = "Malformed or unexpected name server reply";
const char dns_why_invalid[] = "invalid host or domain name";

/* ---- struct dns_result ---- */

void dns_result_set(struct dns_result *result, enum rules_dns_status status, const char *why)
{
    memset(result, 0, sizeof(*result));
    result->status = status;
    result->why = why;
}

void dns_result_clear(struct dns_result *result)
{
    for (size_t i = 0; i < result->count; i++)
        free((char *)result->records[i].text);
    free(result->records);
    memset(result, 0, sizeof(*result));
}

void dns_result_copy(struct dns_result *to, const struct dns_result *from)
{
    *to = *from;
    to->records = NULL;
    if (from->count == 0)
        return;
    to->records = xcalloc(from->count, sizeof(*to->records));
    for (size_t i = 0; i < from->count; i++) {
        to->records[i].text = xstrdup(from->records[i].text);
        to->records[i].pref = from->records[i].pref;
    }
}

int dns_reply_qtype(enum rules_dns_type type)
{
    switch (type) {
    case RULES_DNS_A:
        return ns_t_a;
    case RULES_DNS_AAAA:
        return ns_t_aaaa;
    case RULES_DNS_MX:
        return ns_t_mx;
    case RULES_DNS_TXT:
        return ns_t_txt;
    case RULES_DNS_PTR:
        return ns_t_ptr;
    }
    msg_panic("dns: bad record type %d", (int)type);
}

/* ---- reply parsing ---- */

static unsigned dns_ttl_cap(unsigned long ttl)
{
    return ttl > DNS_REPLY_TTL_MAX ? DNS_REPLY_TTL_MAX : (unsigned)ttl;
}

/* A host name as rules_dns_record wants it: lower case, "" for the root
 * (the null MX of RFC 7505). */
static char *dns_host_text(const char *name)
{
    char *copy = xstrdup(strcmp(name, ".") == 0 ? "" : name);

    for (char *cp = copy; *cp; cp++)
        *cp = (char)tolower((unsigned char)*cp);
    return copy;
}

/* TXT: the character-strings concatenated; NULL when one overruns. */
static char *dns_txt_text(const unsigned char *rdata, size_t rdlen)
{
    char *text = xmalloc(rdlen + 1);
    size_t used = 0;

    for (size_t at = 0; at < rdlen;) {
        size_t slen = rdata[at++];
        if (slen > rdlen - at) {
            free(text);
            return NULL;
        }
        memcpy(text + used, rdata + at, slen);
        used += slen;
        at += slen;
    }
    text[used] = '\0';
    return text;
}

/* The record's text as rules_dns_record wants it; NULL when malformed. */
static char *dns_rr_text(ns_msg *msg, ns_rr *rr, unsigned *pref)
{
    const unsigned char *rdata = ns_rr_rdata(*rr);
    size_t rdlen = ns_rr_rdlen(*rr);
    char buf[DNS_NAME_MAX];

    *pref = 0;
    switch (ns_rr_type(*rr)) {
    case ns_t_a:
        if (rdlen != 4 || inet_ntop(AF_INET, rdata, buf, sizeof(buf)) == NULL)
            return NULL;
        return xstrdup(buf);
    case ns_t_aaaa:
        if (rdlen != 16 || inet_ntop(AF_INET6, rdata, buf, sizeof(buf)) == NULL)
            return NULL;
        return xstrdup(buf);
    case ns_t_mx:
        if (rdlen < 3)
            return NULL;
        *pref = ns_get16(rdata);
        rdata += 2;
        /* FALLTHROUGH */
    case ns_t_ptr:
        if (dn_expand(ns_msg_base(*msg), ns_msg_end(*msg), rdata, buf, sizeof(buf)) < 0)
            return NULL;
        return dns_host_text(buf);
    case ns_t_txt:
        return dns_txt_text(rdata, rdlen);
    default:
        return NULL;
    }
}

/* RFC 2308 section 5: a negative answer lives min(SOA TTL, SOA MINIMUM). */
static unsigned dns_negative_ttl(ns_msg *msg)
{
    int count = ns_msg_count(*msg, ns_s_ns);

    for (int i = 0; i < count; i++) {
        ns_rr rr;
        const unsigned char *rdata, *end;
        int len;
        unsigned long minimum;

        if (ns_parserr(msg, ns_s_ns, i, &rr) < 0 || ns_rr_type(rr) != ns_t_soa)
            continue;
        rdata = ns_rr_rdata(rr);
        end = rdata + ns_rr_rdlen(rr);
        if ((len = dn_skipname(rdata, end)) < 0)
            continue;
        rdata += len;
        if ((len = dn_skipname(rdata, end)) < 0)
            continue;
        rdata += len;
        if (end - rdata < 20)
            continue;
        minimum = ns_get32(rdata + 16);
        return dns_ttl_cap(minimum < ns_rr_ttl(rr) ? minimum : ns_rr_ttl(rr));
    }
    return DNS_REPLY_NEG_TTL_DEFAULT;
}

static void dns_parse_records(ns_msg *msg, int want, struct dns_result *result)
{
    int count = ns_msg_count(*msg, ns_s_an);
    unsigned long ttl = DNS_REPLY_TTL_MAX;

    result->records = xcalloc((size_t)count + 1, sizeof(*result->records));
    for (int i = 0; i < count; i++) {
        ns_rr rr;
        char *text;
        unsigned pref;

        if (ns_parserr(msg, ns_s_an, i, &rr) < 0) {
            dns_result_clear(result);
            dns_result_set(result, RULES_DNS_RETRY, dns_why_malformed);
            return;
        }
        if (ns_rr_class(rr) != ns_c_in)
            continue;
        if (ns_rr_type(rr) == ns_t_cname && ns_rr_ttl(rr) < ttl)
            ttl = ns_rr_ttl(rr);
        if ((int)ns_rr_type(rr) != want)
            continue;
        if ((text = dns_rr_text(msg, &rr, &pref)) == NULL) {
            dns_result_clear(result);
            dns_result_set(result, RULES_DNS_RETRY, dns_why_malformed);
            return;
        }
        result->records[result->count].text = text;
        result->records[result->count].pref = pref;
        result->count++;
        if (ns_rr_ttl(rr) < ttl)
            ttl = ns_rr_ttl(rr);
    }
    if (result->count > 0) {
        result->status = RULES_DNS_OK;
        result->ttl = dns_ttl_cap(ttl);
        result->why = NULL;
    } else {
        free(result->records);
        result->records = NULL;
        dns_result_set(result, RULES_DNS_NODATA, dns_why_nodata);
        result->ttl = dns_negative_ttl(msg);
    }
}

void dns_reply_parse(int ares_status, const unsigned char *abuf, int alen, enum rules_dns_type type,
                     struct dns_result *result)
{
    ns_msg msg;

    dns_result_set(result, RULES_DNS_RETRY, dns_why_retry);
    switch (ares_status) {
    case ARES_SUCCESS:
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
        break;
    case ARES_EBADNAME:
        dns_result_set(result, RULES_DNS_NOTFOUND, dns_why_invalid);
        return;
    case ARES_EBADRESP:
        result->why = dns_why_malformed;
        return;
    default: /* timeout, SERVFAIL, REFUSED, connection refused, ... */
        return;
    }
    if (abuf == NULL || alen <= 0 || ns_initparse(abuf, alen, &msg) < 0) {
        result->why = dns_why_malformed;
        return;
    }
    switch (ns_msg_getflag(msg, ns_f_rcode)) {
    case ns_r_nxdomain:
        dns_result_set(result, RULES_DNS_NOTFOUND, dns_why_notfound);
        result->ttl = dns_negative_ttl(&msg);
        return;
    case ns_r_noerror:
        dns_parse_records(&msg, dns_reply_qtype(type), result);
        return;
    default:
        return;
    }
}
