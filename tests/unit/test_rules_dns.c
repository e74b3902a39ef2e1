/*
 * test_rules_dns.c - the DNS-based restrictions (rules/restrict_dns.c)
 * against a fake resolver: a labelled table of answers, some of which are
 * PENDING for the first passes, so that the pass protocol of
 * rules/rules_dns.h is exercised (no decision and no side effects while an
 * answer is pending, then the decision). Reply texts are Postfix 3.7's
 * (smtpd_check.c), asserted exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/rules.h"

/* ---- configuration ------------------------------------------------------ */

struct src {
    const char *const *pairs; /* name, value, ..., NULL */
};

static const char *src_get(void *ctx, const char *name)
{
    const struct src *s = ctx;

    for (size_t i = 0; s->pairs[i] != NULL; i += 2)
        if (strcmp(s->pairs[i], name) == 0)
            return s->pairs[i + 1];
    if (strcmp(name, "mydestination") == 0)
        return "scand.test";
    if (strcmp(name, "myorigin") == 0)
        return "scand.test";
    for (const struct rules_param *p = rules_params; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->default_value;
    return NULL;
}

static void src_where(void *ctx, const char *name, char *buf, size_t len)
{
    (void)ctx;
    snprintf(buf, len, "test.cf, parameter %s", name);
}

static struct rules *load(const char *const *pairs, char *err, size_t errlen)
{
    static struct src s;
    struct rules_source source = {src_get, src_where, &s};

    s.pairs = pairs;
    err[0] = '\0';
    return rules_load_raw(&source, src_get, err, errlen);
}

/* ---- the fake resolver -------------------------------------------------- */

struct zone_entry {
    const char *name;
    enum rules_dns_type type;
    enum rules_dns_status status;
    const char *records[3]; /* MX: "pref host" ("10 ." for the null MX) */
    int ready_pass;         /* PENDING before this pass (0: at once) */
};

static const struct zone_entry zone[] = {
    /* DNSBL: 192.0.2.7 listed with a reason; 192.0.2.8 listed, no TXT;
     * 192.0.2.9 the list times out. */
    {"7.2.0.192.bl.test", RULES_DNS_A, RULES_DNS_OK, {"127.0.0.2"}, 1},
    {"7.2.0.192.bl.test",
     RULES_DNS_TXT,
     RULES_DNS_OK,
     {"listed; see http://bl.test/?192.0.2.7"},
     2},
    {"8.2.0.192.bl.test", RULES_DNS_A, RULES_DNS_OK, {"127.0.0.4"}, 0},
    {"8.2.0.192.bl.test", RULES_DNS_TXT, RULES_DNS_NODATA, {NULL}, 0},
    {"9.2.0.192.bl.test", RULES_DNS_A, RULES_DNS_RETRY, {NULL}, 0},
    {"7.2.0.192.wl.test", RULES_DNS_A, RULES_DNS_OK, {"127.0.2.1"}, 0},
    {"9.2.0.192.wl.test", RULES_DNS_A, RULES_DNS_RETRY, {NULL}, 0},
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
     RULES_DNS_A,
     RULES_DNS_OK,
     {"127.0.0.2"},
     0},
    /* RHSBL */
    {"bad.test.rhs.test", RULES_DNS_A, RULES_DNS_OK, {"127.0.1.2"}, 0},
    {"bad.test.rhs.test", RULES_DNS_TXT, RULES_DNS_OK, {"bad domain", "really"}, 0},
    {"mx.bad.test.rhs.test", RULES_DNS_A, RULES_DNS_OK, {"127.0.1.2"}, 0},
    /* Domains */
    {"good.test", RULES_DNS_MX, RULES_DNS_NODATA, {NULL}, 1},
    {"good.test", RULES_DNS_A, RULES_DNS_OK, {"192.0.2.80"}, 1},
    {"good.test", RULES_DNS_AAAA, RULES_DNS_NODATA, {NULL}, 1},
    {"null.test", RULES_DNS_MX, RULES_DNS_OK, {"0 ."}, 0},
    {"null.test", RULES_DNS_A, RULES_DNS_OK, {"192.0.2.81"}, 0},
    {"tmp.test", RULES_DNS_MX, RULES_DNS_RETRY, {NULL}, 0},
    {"tmp.test", RULES_DNS_A, RULES_DNS_NODATA, {NULL}, 0},
    {"tmp.test", RULES_DNS_AAAA, RULES_DNS_NODATA, {NULL}, 0},
    {"mixed.test", RULES_DNS_MX, RULES_DNS_RETRY, {NULL}, 0},
    {"mixed.test", RULES_DNS_A, RULES_DNS_OK, {"192.0.2.82"}, 0},
    {"helo.null.test", RULES_DNS_MX, RULES_DNS_OK, {"0 ."}, 0},
    /* Client names */
    {"7.2.0.192.in-addr.arpa", RULES_DNS_PTR, RULES_DNS_OK, {"host7.test"}, 1},
    {"host7.test", RULES_DNS_A, RULES_DNS_OK, {"192.0.2.7"}, 2},
    {"8.2.0.192.in-addr.arpa", RULES_DNS_PTR, RULES_DNS_OK, {"forged.test"}, 0},
    {"forged.test", RULES_DNS_A, RULES_DNS_OK, {"192.0.2.99"}, 0},
    {"9.2.0.192.in-addr.arpa", RULES_DNS_PTR, RULES_DNS_RETRY, {NULL}, 0},
    {NULL, RULES_DNS_A, RULES_DNS_NOTFOUND, {NULL}, 0},
};

#define ZONE_MAX 64

/* Records per zone entry: every answer stays valid for the whole check. */
struct fake_dns {
    int pass;
    int asked;
    struct rules_dns_record records[ZONE_MAX][3];
};

static void fake_lookup(void *ctx, const char *name, enum rules_dns_type type,
                        struct rules_dns_answer *answer)
{
    struct fake_dns *f = ctx;

    f->asked++;
    memset(answer, 0, sizeof(*answer));
    answer->status = RULES_DNS_NOTFOUND; /* every other name: NXDOMAIN */
    for (const struct zone_entry *e = zone; e->name != NULL; e++) {
        if (strcmp(e->name, name) != 0 || e->type != type)
            continue;
        if (f->pass < e->ready_pass) {
            answer->status = RULES_DNS_PENDING;
            return;
        }
        answer->status = e->status;
        if (e->status == RULES_DNS_RETRY)
            answer->why = "Host not found, try again";
        struct rules_dns_record *recs = f->records[e - zone];
        for (size_t i = 0; i < 3 && e->records[i] != NULL; i++) {
            const char *text = e->records[i];
            recs[i].pref = 0;
            if (type == RULES_DNS_MX) {
                recs[i].pref = (unsigned)atoi(text);
                text = strchr(text, ' ') + 1;
                if (strcmp(text, ".") == 0)
                    text = "";
            }
            recs[i].text = text;
            answer->count = i + 1;
        }
        answer->records = recs;
        return;
    }
}

/* ---- running a case ----------------------------------------------------- */

struct dns_case {
    const char *label;
    const char *const *config;
    const char *client_name;
    const char *client_addr;
    const char *helo;
    const char *sender;
    const char *recipient;
    int no_resolver;
    const char *reply; /* NULL: accepted */
    int passes;        /* rules_check() calls until a decision */
    const char *note;  /* the first note's "kind: text", or NULL for none */
};

static const char *const rbl[] = {"smtpd_client_restrictions", "reject_rbl_client bl.test", NULL};
static const char *const rbl_filter[] = {"smtpd_client_restrictions",
                                         "reject_rbl_client bl.test=127.0.0.[3..5]", NULL};
static const char *const rbl_filter_miss[] = {"smtpd_client_restrictions",
                                              "reject_rbl_client bl.test=127.0.0.[3;5..9]", NULL};
static const char *const rbl_warn[] = {"smtpd_client_restrictions",
                                       "warn_if_reject reject_rbl_client bl.test", NULL};
static const char *const dnswl[] = {"smtpd_client_restrictions",
                                    "permit_dnswl_client wl.test, reject", NULL};
static const char *const rhsbl_sender[] = {"smtpd_sender_restrictions",
                                           "reject_rhsbl_sender rhs.test", NULL};
static const char *const rhsbl_client[] = {"smtpd_client_restrictions",
                                           "reject_rhsbl_client rhs.test", NULL};
static const char *const rhsbl_reverse[] = {"smtpd_client_restrictions",
                                            "reject_rhsbl_reverse_client rhs.test", NULL};
static const char *const unk_sender[] = {"smtpd_sender_restrictions",
                                         "reject_unknown_sender_domain", NULL};
static const char *const unk_sender_defer[] = {"smtpd_sender_restrictions",
                                               "reject_unknown_sender_domain",
                                               "unknown_address_tempfail_action", "defer", NULL};
static const char *const unk_sender_then_reject[] = {
    "smtpd_sender_restrictions", "reject_unknown_sender_domain", "smtpd_recipient_restrictions",
    "check_recipient_access inline:{b@good.test=REJECT}", NULL};
static const char *const unk_rcpt[] = {"smtpd_recipient_restrictions",
                                       "reject_unknown_recipient_domain", NULL};
static const char *const unk_helo[] = {"smtpd_helo_restrictions", "reject_unknown_helo_hostname",
                                       NULL};
static const char *const unk_client[] = {"smtpd_client_restrictions",
                                         "reject_unknown_client_hostname",
                                         "unknown_client_reject_code", "550", NULL};
static const char *const unk_reverse[] = {"smtpd_client_restrictions",
                                          "reject_unknown_reverse_client_hostname", NULL};
static const char *const custom_reply[] = {
    "smtpd_client_restrictions", "reject_rbl_client bl.test", "default_rbl_reply",
    "$rbl_code 5.7.9 ${rbl_reason?{$rbl_reason}:{no reason}} ($rbl_what via $rbl_domain, "
    "helo $helo_name, $sender_domain)",
    NULL};
static const char *const table_result[] = {"smtpd_client_restrictions",
                                           "check_client_access inline:{192.0.2.7="
                                           "reject_rbl_client}",
                                           NULL};

#define CLIENT7 "unknown", "192.0.2.7"
#define OK_SENDER "a@good.test"
#define RCPT "b@good.test"

static const struct dns_case cases[] = {
    {"rbl: listed, TXT reason, A then TXT pending", rbl, CLIENT7, "helo.test", OK_SENDER, RCPT, 0,
     "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.test; listed; see "
     "http://bl.test/?192.0.2.7",
     3, NULL},
    {"rbl: listed without TXT", rbl, "unknown", "192.0.2.8", "helo.test", OK_SENDER, RCPT, 0,
     "554 5.7.1 Service unavailable; Client host [192.0.2.8] blocked using bl.test", 1, NULL},
    {"rbl: not listed (NXDOMAIN)", rbl, "unknown", "192.0.2.10", "helo.test", OK_SENDER, RCPT, 0,
     NULL, 1, NULL},
    {"rbl: temporary failure is not a listing", rbl, "unknown", "192.0.2.9", "helo.test", OK_SENDER,
     RCPT, 0, NULL, 1,
     "warning: 9.2.0.192.bl.test: RBL lookup error: Host or domain name not found. Name service "
     "error for name=9.2.0.192.bl.test type=A: Host not found, try again"},
    {"rbl: no resolver", rbl, "unknown", "192.0.2.8", "helo.test", OK_SENDER, RCPT, 1, NULL, 1,
     "warning: 8.2.0.192.bl.test: RBL lookup error: Host or domain name not found. Name service "
     "error for name=8.2.0.192.bl.test type=A: no resolver"},
    {"rbl: IPv6 client", rbl, "unknown", "2001:db8::1", "helo.test", OK_SENDER, RCPT, 0,
     "554 5.7.1 Service unavailable; Client host [2001:db8::1] blocked using bl.test", 1, NULL},
    {"rbl: filter [3..5] matches 127.0.0.4", rbl_filter, "unknown", "192.0.2.8", "helo.test",
     OK_SENDER, RCPT, 0,
     "554 5.7.1 Service unavailable; Client host [192.0.2.8] blocked using bl.test", 1, NULL},
    {"rbl: filter [3..5] does not match 127.0.0.2", rbl_filter, CLIENT7, "helo.test", OK_SENDER,
     RCPT, 0, NULL, 2, NULL},
    {"rbl: filter [3;5..9] does not match 127.0.0.4", rbl_filter_miss, "unknown", "192.0.2.8",
     "helo.test", OK_SENDER, RCPT, 0, NULL, 1, NULL},
    {"rbl: warn_if_reject", rbl_warn, "unknown", "192.0.2.8", "helo.test", OK_SENDER, RCPT, 0, NULL,
     1,
     "reject_warning: 554 5.7.1 Service unavailable; Client host [192.0.2.8] blocked using "
     "bl.test"},
    {"rbl: custom default_rbl_reply, ?{}:{} and $sender_domain", custom_reply, "unknown",
     "192.0.2.8", "helo.test", OK_SENDER, RCPT, 0,
     "554 5.7.9 no reason (192.0.2.8 via bl.test, helo helo.test, good.test)", 1, NULL},
    {"rbl: in a table result, without its argument", table_result, CLIENT7, "helo.test", OK_SENDER,
     RCPT, 0, "451 4.3.5 Server configuration error", 1, NULL},
    {"dnswl: listed, permits before reject", dnswl, CLIENT7, "helo.test", OK_SENDER, "b@scand.test",
     0, NULL, 1, NULL},
    {"dnswl: never permits a recipient we do not accept", dnswl, CLIENT7, "helo.test", OK_SENDER,
     "b@elsewhere.test", 0, "554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied",
     1, NULL},
    {"dnswl: temporary failure is DEFER_IF_REJECT", dnswl, "unknown", "192.0.2.9", "helo.test",
     OK_SENDER, "b@scand.test", 0,
     "450 4.7.1 <192.0.2.9>: Client host rejected: Service unavailable", 1, NULL},
    {"rhsbl_sender: listed, two TXT records", rhsbl_sender, CLIENT7, "helo.test", "a@bad.test",
     RCPT, 0,
     "554 5.7.1 Service unavailable; Sender address [a@bad.test] blocked using rhs.test; bad "
     "domain / really",
     1, NULL},
    {"rhsbl_sender: null sender is not looked up", rhsbl_sender, CLIENT7, "helo.test", "", RCPT, 0,
     NULL, 1, NULL},
    {"rhsbl_client: listed name", rhsbl_client, "mx.bad.test", "192.0.2.7", "helo.test", OK_SENDER,
     RCPT, 0, "554 5.7.1 Service unavailable; Client host [mx.bad.test] blocked using rhs.test", 1,
     NULL},
    {"rhsbl_reverse_client: unknown client, PTR gives the name", rhsbl_reverse, "unknown",
     "192.0.2.8", "helo.test", OK_SENDER, RCPT, 0, NULL, 1, NULL},
    {"unknown_sender_domain: A found after MX NODATA (pending)", unk_sender, CLIENT7, "helo.test",
     OK_SENDER, RCPT, 0, NULL, 2, NULL},
    {"unknown_sender_domain: NXDOMAIN", unk_sender, CLIENT7, "helo.test", "a@nx.test", RCPT, 0,
     "450 4.1.8 <a@nx.test>: Sender address rejected: Domain not found", 1, NULL},
    {"unknown_sender_domain: null MX", unk_sender, CLIENT7, "helo.test", "A@Null.Test", RCPT, 0,
     "550 5.7.27 <A@Null.Test>: Sender address rejected: Domain null.test does not accept mail "
     "(nullMX)",
     1, NULL},
    {"unknown_sender_domain: MX try again, A found", unk_sender, CLIENT7, "helo.test",
     "a@mixed.test", RCPT, 0, NULL, 1, NULL},
    {"unknown_sender_domain: try again is defer_if_permit", unk_sender, CLIENT7, "helo.test",
     "a@tmp.test", RCPT, 0, "450 4.1.8 <a@tmp.test>: Sender address rejected: Domain not found", 1,
     NULL},
    {"unknown_sender_domain: a later reject wins over defer_if_permit", unk_sender_then_reject,
     CLIENT7, "helo.test", "a@tmp.test", RCPT, 0,
     "554 5.7.1 <b@good.test>: Recipient address rejected: Access denied", 1, NULL},
    {"unknown_sender_domain: tempfail action defer", unk_sender_defer, CLIENT7, "helo.test",
     "a@tmp.test", RCPT, 0, "450 4.1.8 <a@tmp.test>: Sender address rejected: Domain not found", 1,
     NULL},
    {"unknown_sender_domain: no resolver defers, never rejects", unk_sender, CLIENT7, "helo.test",
     "a@nx.test", RCPT, 1, "450 4.1.8 <a@nx.test>: Sender address rejected: Domain not found", 1,
     NULL},
    {"unknown_sender_domain: our own domain is not looked up", unk_sender, CLIENT7, "helo.test",
     "a@scand.test", RCPT, 1, NULL, 1, NULL},
    {"unknown_sender_domain: address literal", unk_sender, CLIENT7, "helo.test", "a@[192.0.2.1]",
     RCPT, 1, NULL, 1, NULL},
    {"unknown_recipient_domain: null MX", unk_rcpt, CLIENT7, "helo.test", OK_SENDER, "b@null.test",
     0,
     "556 5.1.10 <b@null.test>: Recipient address rejected: Domain null.test does not accept mail "
     "(nullMX)",
     1, NULL},
    {"unknown_helo_hostname: not found", unk_helo, CLIENT7, "helo.nx.test", OK_SENDER, RCPT, 0,
     "450 4.7.1 <helo.nx.test>: Helo command rejected: Host not found", 1, NULL},
    {"unknown_helo_hostname: a null MX is enough", unk_helo, CLIENT7, "helo.null.test", OK_SENDER,
     RCPT, 0, NULL, 1, NULL},
    {"unknown_helo_hostname: address literal", unk_helo, CLIENT7, "[192.0.2.300]", OK_SENDER, RCPT,
     0, "501 5.5.2 <[192.0.2.300]>: Helo command rejected: invalid ip address", 1, NULL},
    {"unknown_client: XFORWARD name is taken as verified", unk_client, "mx.example.com",
     "192.0.2.8", "helo.test", OK_SENDER, RCPT, 0, NULL, 1, NULL},
    {"unknown_client: PTR and A agree (pending twice)", unk_client, CLIENT7, "helo.test", OK_SENDER,
     RCPT, 0, NULL, 3, NULL},
    {"unknown_client: forged", unk_client, "unknown", "192.0.2.8", "helo.test", OK_SENDER, RCPT, 0,
     "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.8]", 1,
     "warning: 192.0.2.8: address not listed for hostname forged.test"},
    {"unknown_client: no PTR", unk_client, "unknown", "192.0.2.10", "helo.test", OK_SENDER, RCPT, 0,
     "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.10]", 1, NULL},
    {"unknown_client: PTR try again is 450", unk_client, "unknown", "192.0.2.9", "helo.test",
     OK_SENDER, RCPT, 0, "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.9]",
     1, NULL},
    {"unknown_reverse: forged name still has a reverse name", unk_reverse, "unknown", "192.0.2.8",
     "helo.test", OK_SENDER, RCPT, 0, NULL, 1, NULL},
    {"unknown_reverse: no PTR", unk_reverse, "unknown", "192.0.2.10", "helo.test", OK_SENDER, RCPT,
     0, "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.10]", 1, NULL},
};

static void run_case(const struct dns_case *c)
{
    char err[1024];
    struct rules *rules = load(c->config, err, sizeof(err));
    struct fake_dns fake;
    struct rules_dns dns = {fake_lookup, &fake};
    struct rules_query q;
    struct rules_tx tx;
    struct rules_verdict v;
    int passes = 0;

    if (rules == NULL)
        fail_msg("%s: load: %s", c->label, err);
    memset(&fake, 0, sizeof(fake));
    memset(&q, 0, sizeof(q));
    q.client_name = c->client_name;
    q.client_addr = c->client_addr;
    q.helo = c->helo;
    q.protocol = "ESMTP";
    q.sender = c->sender;
    q.recipient = c->recipient;
    q.dns = c->no_resolver ? NULL : &dns;
    rules_tx_init(&tx);
    for (;;) {
        rules_check(rules, RULES_STAGE_RCPT, &q, &tx, &v, NULL);
        passes++;
        if (!v.dns_pending || passes > 5)
            break;
        /* A pending pass leaves nothing behind. */
        if (v.reply != NULL || v.note_count != 0)
            fail_msg("%s: pass %d: pending, yet a reply or notes", c->label, passes);
        fake.pass++;
    }
    if ((c->reply == NULL) != (v.reply == NULL) ||
        (c->reply != NULL && strcmp(c->reply, v.reply) != 0))
        fail_msg("%s:\n  want %s\n  got  %s", c->label, c->reply ? c->reply : "(accepted)",
                 v.reply ? v.reply : "(accepted)");
    if (passes != c->passes)
        fail_msg("%s: %d passes, want %d", c->label, passes, c->passes);
    if (c->note != NULL) {
        char got[1024] = "(none)";
        if (v.note_count > 0)
            snprintf(got, sizeof(got), "%s: %s", v.notes[0].kind, v.notes[0].text);
        if (strcmp(got, c->note) != 0)
            fail_msg("%s: note\n  want %s\n  got  %s", c->label, c->note, got);
    }
    rules_verdict_free(&v);
    rules_free(rules);
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
}

/* ---- load errors ---------------------------------------------------------- */

struct load_case {
    const char *label;
    const char *const *config;
    const char *error; /* NULL: loads */
};

static const char *const no_arg[] = {"smtpd_client_restrictions", "reject_rbl_client", NULL};
static const char *const bad_filter[] = {"smtpd_client_restrictions",
                                         "reject_rbl_client bl.test=127.0.0.[2..x]", NULL};
static const char *const bad_tempfail[] = {"unknown_address_tempfail_action", "reject", NULL};
static const char *const bad_template[] = {"default_rbl_reply", "$rbl_code ${rbl_reason", NULL};
static const char *const unknown_name[] = {"default_rbl_reply", "$rbl_code $no_such_name", NULL};
static const char *const unverified[] = {"smtpd_recipient_restrictions",
                                         "reject_unverified_recipient", NULL};
static const char *const all_dns[] = {
    "smtpd_client_restrictions",
    "reject_rbl_client a.test=127.0.0.[2;4..11], reject_rbl a.test, permit_dnswl_client w.test, "
    "reject_rhsbl_client r.test, permit_rhswl_client w.test, reject_rhsbl_reverse_client r.test, "
    "reject_unknown_client_hostname, reject_unknown_client, "
    "reject_unknown_reverse_client_hostname, reject_maps_rbl",
    "smtpd_helo_restrictions",
    "reject_rhsbl_helo r.test, reject_unknown_helo_hostname, "
    "reject_unknown_hostname",
    "smtpd_sender_restrictions",
    "reject_rhsbl_sender r.test, reject_unknown_sender_domain, "
    "reject_unknown_address",
    "smtpd_recipient_restrictions",
    "reject_rhsbl_recipient r.test, "
    "reject_unknown_recipient_domain",
    NULL};

static const struct load_case load_cases[] = {
    {"missing domain argument", no_arg,
     "test.cf, parameter smtpd_client_restrictions: parameter smtpd_client_restrictions: "
     "restriction reject_rbl_client requires domain name argument"},
    {"malformed result filter", bad_filter,
     "test.cf, parameter smtpd_client_restrictions: parameter smtpd_client_restrictions: "
     "restriction reject_rbl_client: RBL reply error: bad address pattern \"127.0.0.[2..x]\" in "
     "\"bl.test=127.0.0.[2..x]\""},
    {"bad tempfail action", bad_tempfail,
     "test.cf, parameter unknown_address_tempfail_action: bad unknown_address_tempfail_action "
     "value: \"reject\" (specify defer or defer_if_permit)"},
    {"unbalanced template", bad_template,
     "test.cf, parameter default_rbl_reply: bad default_rbl_reply template: truncated macro "
     "reference: \"${rbl_reason\""},
    {"unknown $name in the template", unknown_name,
     "test.cf, parameter default_rbl_reply: bad default_rbl_reply template: undefined macro "
     "name: \"no_such_name\""},
    {"reject_unverified_recipient is not supported", unverified,
     "test.cf, parameter smtpd_recipient_restrictions: parameter smtpd_recipient_restrictions: "
     "restriction \"reject_unverified_recipient\" is not supported yet (it needs address "
     "verification or MX/NS lookups)"},
    {"every DNS restriction loads", all_dns, NULL},
};

static void test_load(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
        const struct load_case *c = &load_cases[i];
        char err[1024];
        struct rules *rules = load(c->config, err, sizeof(err));
        if (c->error == NULL && rules == NULL)
            fail_msg("%s: %s", c->label, err);
        if (c->error != NULL && (rules != NULL || strcmp(err, c->error) != 0))
            fail_msg("%s:\n  want %s\n  got  %s", c->label, c->error, rules ? "(loaded)" : err);
        if (rules != NULL)
            rules_free(rules);
    }
}

static void test_need_dns(void **state)
{
    static const char *const none[] = {"smtpd_client_restrictions", "permit_mynetworks", NULL};
    static const char *const table[] = {"smtpd_client_restrictions",
                                        "check_client_access inline:{a=OK}", NULL};
    char err[1024];
    struct rules *rules;

    (void)state;
    rules = load(none, err, sizeof(err));
    assert_non_null(rules);
    assert_int_equal(rules_need_dns(rules), 0);
    rules_free(rules);
    rules = load(rbl, err, sizeof(err));
    assert_int_equal(rules_need_dns(rules), 1);
    rules_free(rules);
    rules = load(table, err, sizeof(err));
    assert_int_equal(rules_need_dns(rules), 1);
    rules_free(rules);
    assert_string_equal(rules_dns_type_name(RULES_DNS_AAAA), "AAAA");
    assert_string_equal(rules_dns_type_name(RULES_DNS_PTR), "PTR");
}

/* --explain: a line per lookup, "(cached)" for the cache. */
struct lines {
    char text[4096];
};

static void collect(void *ctx, int depth, const char *text)
{
    struct lines *l = ctx;
    size_t len = strlen(l->text);

    (void)depth;
    snprintf(l->text + len, sizeof(l->text) - len, "%s\n", text);
}

static void cached_lookup(void *ctx, const char *name, enum rules_dns_type type,
                          struct rules_dns_answer *answer)
{
    fake_lookup(ctx, name, type, answer);
    answer->from_cache = 1;
}

static void test_explain(void **state)
{
    char err[1024];
    struct rules *rules = load(rbl, err, sizeof(err));
    struct fake_dns fake;
    struct rules_dns dns = {cached_lookup, &fake};
    struct rules_query q;
    struct rules_tx tx;
    struct rules_verdict v;
    struct lines lines;
    struct rules_explain explain = {collect, &lines};

    (void)state;
    memset(&fake, 0, sizeof(fake));
    fake.pass = 5;
    memset(&q, 0, sizeof(q));
    memset(&lines, 0, sizeof(lines));
    q.client_name = "unknown";
    q.client_addr = "192.0.2.8";
    q.sender = OK_SENDER;
    q.recipient = RCPT;
    q.dns = &dns;
    rules_tx_init(&tx);
    rules_check(rules, RULES_STAGE_RCPT, &q, &tx, &v, &explain);
    if (strstr(lines.text, "dns: 8.2.0.192.bl.test A: 127.0.0.4 (cached)\n") == NULL ||
        strstr(lines.text, "dns: 8.2.0.192.bl.test TXT: NODATA (no TXT record) (cached)\n") ==
            NULL ||
        strstr(lines.text, "reply: 554 5.7.1 Service unavailable; Client host [192.0.2.8] "
                           "blocked using bl.test\n") == NULL)
        fail_msg("explain:\n%s", lines.text);
    rules_verdict_free(&v);
    rules_free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_need_dns),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
