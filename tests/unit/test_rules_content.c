/* test_rules_content.c - header_checks, mime_header_checks,
 * nested_header_checks and body_checks (rules/content.h).
 *
 * Each case names its tables (pcre unless it says regexp), its message
 * (written with LF, sent with CR LF) and what must come out: the reply, the
 * notes in firing order, the message-level side effects and the rewritten
 * message byte for byte. The cases marked [Postfix] were run through a
 * private Postfix 3.7.11 (cleanup with the same tables in main.cf, sent
 * with smtplib, delivered to smtp-sink): the reply is Postfix's end-of-DATA
 * reply, the notes are its cleanup log lines ("warning: header ...: H") in
 * the same order, and the rewritten message is what it delivered, minus
 * the headers cleanup adds itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules/content.h"

/* ---- a parameter source ---- */

struct src {
    char *name[16];
    char *value[16];
    int n;
};

static const char *src_get(void *ctx, const char *name)
{
    struct src *s = ctx;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return s->value[i];
    return NULL;
}

static void src_set(struct src *s, const char *name, const char *value)
{
    assert_true(s->n < 16);
    s->name[s->n] = strdup(name);
    s->value[s->n] = strdup(value);
    s->n++;
}

static void src_free(struct src *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->name[i]);
        free(s->value[i]);
    }
    s->n = 0;
}

/* ---- files ---- */

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_rules_content.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A table file; returns "type:path" in spec. */
static void table_file(const char *type, const char *name, const char *text, char *spec, size_t len)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    write_file(path, text);
    snprintf(spec, len, "%s:%s", type, path);
}

/* LF to CR LF. */
static char *crlf(const char *text, size_t *len)
{
    char *out = malloc(2 * strlen(text) + 1);
    size_t n = 0;
    for (const char *cp = text; *cp; cp++) {
        if (*cp == '\n')
            out[n++] = '\r';
        out[n++] = *cp;
    }
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

/* ---- cases ---- */

struct content_case {
    const char *label;
    const char *type;   /* "pcre" when NULL */
    const char *header; /* table texts; NULL: parameter not set */
    const char *mime;   /* NULL: default ($header_checks); "-": set empty */
    const char *nested;
    const char *body;
    const char *params; /* more "name=value\n" */
    const char *message;
    const char *reply; /* NULL: accepted */
    const char *notes; /* "kind: text\n" each */
    const char *side;  /* "discard=...\nhold=...\n..." */
    const char *rewritten;
};

static void add_table(struct src *s, const struct content_case *c, const char *param,
                      const char *text, int idx)
{
    char spec[512];
    char name[64];

    if (text == NULL)
        return;
    if (strcmp(text, "-") == 0) {
        src_set(s, param, "");
        return;
    }
    snprintf(name, sizeof(name), "t%d_%s", idx, param);
    table_file(c->type ? c->type : "pcre", name, text, spec, sizeof(spec));
    src_set(s, param, spec);
}

static void add_params(struct src *s, const char *params)
{
    char *copy = strdup(params ? params : "");
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        assert_non_null(eq);
        *eq = '\0';
        src_set(s, line, eq + 1);
    }
    free(copy);
}

static struct content_rules *load_case(const struct content_case *c, int idx, struct src *s)
{
    struct rules_source source = {src_get, NULL, s};
    char err[1024] = "";
    struct content_rules *rules;

    add_table(s, c, "header_checks", c->header, idx);
    add_table(s, c, "mime_header_checks", c->mime, idx);
    add_table(s, c, "nested_header_checks", c->nested, idx);
    add_table(s, c, "body_checks", c->body, idx);
    add_params(s, c->params);
    rules = content_rules_load(&source, err, sizeof(err));
    if (rules == NULL)
        fail_msg("%s: load: %s", c->label, err);
    return rules;
}

static char *join_notes(const struct rules_verdict *v)
{
    size_t cap = 1, len = 0;
    char *out;
    for (size_t i = 0; i < v->note_count; i++)
        cap += strlen(v->notes[i].kind) + strlen(v->notes[i].text) + 3;
    out = malloc(cap);
    out[0] = '\0';
    for (size_t i = 0; i < v->note_count; i++)
        len +=
            (size_t)snprintf(out + len, cap - len, "%s: %s\n", v->notes[i].kind, v->notes[i].text);
    return out;
}

static char *join_side(const struct rules_verdict *v)
{
    char *out = malloc(4096);
    size_t len = 0;
    out[0] = '\0';
    if (v->discard)
        len += (size_t)snprintf(out + len, 4096 - len, "discard=%s\n", v->discard);
    if (v->hold)
        len += (size_t)snprintf(out + len, 4096 - len, "hold=%s\n", v->hold);
    if (v->filter)
        len += (size_t)snprintf(out + len, 4096 - len, "filter=%s\n", v->filter);
    if (v->redirect)
        len += (size_t)snprintf(out + len, 4096 - len, "redirect=%s\n", v->redirect);
    for (size_t i = 0; i < v->bcc_count; i++)
        len += (size_t)snprintf(out + len, 4096 - len, "bcc=%s\n", v->bcc[i]);
    return out;
}

static void run_case(const struct content_case *c, int idx)
{
    struct src s = {0};
    struct content_rules *rules = load_case(c, idx, &s);
    struct rules_verdict v;
    size_t len, want_len = 0;
    char *msg = crlf(c->message, &len);
    char *rewritten;
    size_t rewritten_len;

    content_check(rules, msg, len, &v, &rewritten, &rewritten_len, NULL);
    if ((c->reply == NULL) != (v.reply == NULL) ||
        (c->reply != NULL && strcmp(c->reply, v.reply) != 0))
        fail_msg("%s: reply \"%s\", expected \"%s\"", c->label, v.reply ? v.reply : "(none)",
                 c->reply ? c->reply : "(none)");
    char *notes = join_notes(&v);
    if (strcmp(notes, c->notes ? c->notes : "") != 0)
        fail_msg("%s: notes\n%s\nexpected\n%s", c->label, notes, c->notes ? c->notes : "");
    free(notes);
    char *side = join_side(&v);
    if (strcmp(side, c->side ? c->side : "") != 0)
        fail_msg("%s: side effects\n%s\nexpected\n%s", c->label, side, c->side ? c->side : "");
    free(side);
    if (c->rewritten == NULL) {
        if (rewritten != NULL)
            fail_msg("%s: rewritten unexpectedly:\n%.*s", c->label, (int)rewritten_len, rewritten);
    } else {
        char *want = crlf(c->rewritten, &want_len);
        if (rewritten == NULL)
            fail_msg("%s: not rewritten", c->label);
        if (rewritten_len != want_len || memcmp(rewritten, want, want_len) != 0)
            fail_msg("%s: rewritten\n%.*s\nexpected\n%s", c->label, (int)rewritten_len, rewritten,
                     want);
        free(want);
    }
    free(rewritten);
    free(msg);
    rules_verdict_free(&v);
    content_rules_free(rules);
    src_free(&s);
}

static void run_cases(const struct content_case *cases, size_t n, int base)
{
    for (size_t i = 0; i < n; i++)
        run_case(&cases[i], base + (int)i);
}

/* ---- routing: which table sees which input ---- */

#define WARN_H "/^(.*)$/ WARN H\n"
#define WARN_M "/^(.*)$/ WARN M\n"
#define WARN_N "/^(.*)$/ WARN N\n"
#define WARN_B "/^(.*)$/ WARN B\n"

static const char mime1[] = "Received: from old.example ([10.1.2.3])\n"
                            "\tby mx.example; Mon, 1 Jan 2024 00:00:00 +0000\n"
                            "Subject: folded\n"
                            " subject line\n"
                            "X-Mailer : BadMailer 1.0\n"
                            "MIME-Version: 1.0\n"
                            "Content-Type: multipart/mixed; boundary=\"outer\"\n"
                            "Content-Language: en\n"
                            "\n"
                            "preamble line\n"
                            "--outer\n"
                            "Content-Type: text/plain\n"
                            "X-Part-Header: yes\n"
                            "\n"
                            "part one text\n"
                            "\n"
                            "--outer\n"
                            "Content-Type: message/rfc822\n"
                            "Content-Disposition: attachment\n"
                            "\n"
                            "Subject: inner subject\n"
                            "From: inner@example\n"
                            "Content-Type: multipart/alternative; boundary=inner\n"
                            "\n"
                            "--inner\n"
                            "Content-Type: text/plain; charset=utf-8\n"
                            "Content-Transfer-Encoding: base64\n"
                            "\n"
                            "aGVsbG8gd29ybGQK\n"
                            "--inner--\n"
                            "inner epilogue\n"
                            "--outer--\n"
                            "epilogue\n";

static const char mime1_trace[] =
    "warn: header Received: from old.example ([10.1.2.3])  by mx.example; Mon, 1 Jan 2024 "
    "00:00:00 +0000: H\n"
    "warn: header Subject: folded  subject line: H\n"
    "warn: header X-Mailer: BadMailer 1.0: H\n"
    "warn: header MIME-Version: 1.0: M\n"
    "warn: header Content-Type: multipart/mixed; boundary=\"outer\": M\n"
    "warn: header Content-Language: en: H\n"
    "warn: body preamble line: B\n"
    "warn: body --outer: B\n"
    "warn: header Content-Type: text/plain: M\n"
    "warn: header X-Part-Header: yes: M\n"
    "warn: body part one text: B\n"
    "warn: body --outer: B\n"
    "warn: header Content-Type: message/rfc822: M\n"
    "warn: header Content-Disposition: attachment: M\n"
    "warn: header Subject: inner subject: N\n"
    "warn: header From: inner@example: N\n"
    "warn: header Content-Type: multipart/alternative; boundary=inner: M\n"
    "warn: body --inner: B\n"
    "warn: header Content-Type: text/plain; charset=utf-8: M\n"
    "warn: header Content-Transfer-Encoding: base64: M\n"
    "warn: body aGVsbG8gd29ybGQK: B\n"
    "warn: body --inner--: B\n"
    "warn: body inner epilogue: B\n"
    "warn: body --outer--: B\n"
    "warn: body epilogue: B\n";

static const char mime1_flat_trace[] =
    "warn: header Received: from old.example ([10.1.2.3])  by mx.example; Mon, 1 Jan 2024 "
    "00:00:00 +0000: H\n"
    "warn: header Subject: folded  subject line: H\n"
    "warn: header X-Mailer: BadMailer 1.0: H\n"
    "warn: header MIME-Version: 1.0: M\n"
    "warn: header Content-Type: multipart/mixed; boundary=\"outer\": M\n"
    "warn: header Content-Language: en: H\n"
    "warn: body preamble line: B\n"
    "warn: body --outer: B\n"
    "warn: body Content-Type: text/plain: B\n"
    "warn: body X-Part-Header: yes: B\n"
    "warn: body part one text: B\n"
    "warn: body --outer: B\n"
    "warn: body Content-Type: message/rfc822: B\n"
    "warn: body Content-Disposition: attachment: B\n"
    "warn: body Subject: inner subject: B\n"
    "warn: body From: inner@example: B\n"
    "warn: body Content-Type: multipart/alternative; boundary=inner: B\n"
    "warn: body --inner: B\n"
    "warn: body Content-Type: text/plain; charset=utf-8: B\n"
    "warn: body Content-Transfer-Encoding: base64: B\n"
    "warn: body aGVsbG8gd29ybGQK: B\n"
    "warn: body --inner--: B\n"
    "warn: body inner epilogue: B\n"
    "warn: body --outer--: B\n"
    "warn: body epilogue: B\n";

static void test_routing(void **state)
{
    (void)state;
    const struct content_case cases[] = {
        {.label = "[Postfix] four tables: primary, MIME anywhere, part headers, nested, body",
         .header = WARN_H,
         .mime = WARN_M,
         .nested = WARN_N,
         .body = WARN_B,
         .message = mime1,
         .notes = mime1_trace},
        {.label = "[Postfix] disable_mime_input_processing: primary MIME headers still go to "
                  "mime_header_checks, all after the primary header is body",
         .header = WARN_H,
         .mime = WARN_M,
         .nested = WARN_N,
         .body = WARN_B,
         .params = "disable_mime_input_processing=yes\n",
         .message = mime1,
         .notes = mime1_flat_trace},
        {.label = "mime and nested default to $header_checks",
         .header = "/^(Content-Type|X-Part-Header|From): (.*)/ WARN $1\n",
         .message = mime1,
         .notes = "warn: header Content-Type: multipart/mixed; boundary=\"outer\": Content-Type\n"
                  "warn: header Content-Type: text/plain: Content-Type\n"
                  "warn: header X-Part-Header: yes: X-Part-Header\n"
                  "warn: header Content-Type: message/rfc822: Content-Type\n"
                  "warn: header From: inner@example: From\n"
                  "warn: header Content-Type: multipart/alternative; boundary=inner: "
                  "Content-Type\n"
                  "warn: header Content-Type: text/plain; charset=utf-8: Content-Type\n"},
        {.label = "mime_header_checks empty: header_checks never sees Content-Type",
         .header = "/^Content-Type:/ REJECT ct\n/^X-Part-Header:/ REJECT part\n",
         .mime = "-",
         .message = mime1,
         .reply = NULL},
        {.label = "body_checks only: no header inspected",
         .body = "/^Subject/ REJECT subject\n/^part one/ REJECT body seen\n",
         .message = mime1,
         .reply = "550 5.7.1 body seen"},
        {.label = "repeated headers are each inspected",
         .header = "/^Received: from (\\S+)/ WARN $1\n",
         .message = "Received: from a\nReceived: from b\nReceived: from c\n\nbody\n",
         .notes = "warn: header Received: from a: a\nwarn: header Received: from b: b\n"
                  "warn: header Received: from c: c\n"},
        {.label = "a message without body: the last header is inspected at the end",
         .header = "/^Subject: last/ REJECT seen\n",
         .message = "From: a@b\nSubject: last\n",
         .reply = "550 5.7.1 seen"},
        {.label = "Content-Type other than text/message/multipart keeps the type before it",
         .header = "/^From: (.*)/ WARN $1\n",
         .nested = "/^From: (.*)/ WARN nested $1\n",
         .message = "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                    "Content-Type: message/rfc822\nContent-Type: image/png\n\n"
                    "From: inner\n\nx\n--b--\n",
         .notes = "warn: header From: inner: nested inner\n"},
        {.label = "multipart/digest parts default to message/rfc822",
         .header = "/^Subject: (.*)/ WARN $1\n",
         .nested = "/^Subject: (.*)/ WARN nested $1\n",
         .message = "Subject: top\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n"
                    "Subject: digest one\n\nx\n--d--\n",
         .notes = "warn: header Subject: top: top\nwarn: header Subject: digest one: nested "
                  "digest one\n"},
        {.label = "boundary: case-sensitive, prefix match, trailing junk ignored",
         .mime = "/^X-In-Part:/ REJECT part header\n",
         .header = "/^nothing/ DUNNO\n",
         .body = "/^--B0undary$/ WARN not a boundary\n",
         .message = "Content-Type: multipart/mixed; boundary=\"B0undary\"\n\n--b0undary\n"
                    "X-In-Part: no\n\n--B0undary  junk\nX-In-Part: yes\n\nx\n",
         .reply = "550 5.7.1 part header",
         /* pcre is case-insensitive by default: the line is looked up as body */
         .notes = "warn: body --b0undary: not a boundary\n"},
        {.label = "a multipart without boundary is all body",
         .header = WARN_H,
         .body = "/^X-In-Part:/ WARN body $0\n",
         .message = "Content-Type: multipart/mixed\n\n--x\nX-In-Part: no\n\nx\n",
         .notes = "warn: header Content-Type: multipart/mixed: H\n"},
        {.label = "a part header block ended by a non-header line",
         .mime = "/^X-A:/ WARN part header\n",
         .header = "/^nothing/ DUNNO\n",
         .body = "/^(not a header|X-B:.*)$/ WARN body $1\n",
         .message = "Content-Type: multipart/mixed; boundary=b\n\n--b\nX-A: 1\nnot a header\n"
                    "X-B: 2\n--b--\n",
         .notes = "warn: header X-A: 1: part header\nwarn: body not a header: body not a "
                  "header\nwarn: body X-B: 2: body X-B: 2\n"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 100);
}

/* ---- headers: folding, normalisation, limits ---- */

static void test_headers(void **state)
{
    (void)state;
    const struct content_case cases[] = {
        {.label = "folded header: joined with \\n and the leading white space; . and \\s match "
                  "the newline",
         .header = "/^Subject: one\\n\\ttwo\\n  three$/ WARN exact\n",
         .message = "Subject: one\n\ttwo\n  three\n\nx\n",
         .notes = "warn: header Subject: one  two   three: exact\n"},
        {.label = "a literal blank does not match the fold",
         .header = "/^Subject: one two/ REJECT blank\n/^Subject: one.\\s*two/ WARN dot\n",
         .message = "Subject: one\n two\n\nx\n",
         .notes = "warn: header Subject: one  two: dot\n"},
        {.label = "Name : value is matched as Name: value",
         .header = "/^X-Mailer: BadMailer/ HOLD\n",
         .message = "X-Mailer   : BadMailer\n\nx\n",
         .notes = "hold: header X-Mailer: BadMailer\n",
         .side = "hold=\n"},
        {.label = "encoded words are not decoded",
         .header = "/^Subject: hello/ REJECT decoded\n/=\\?utf-8\\?/ WARN encoded\n",
         .message = "Subject: =?utf-8?q?hello?=\n\nx\n",
         .notes = "warn: header Subject: =?utf-8?q?hello?=: encoded\n"},
        {.label = "[Postfix] header_size_limit: later lines dropped once the header is that long",
         .header = "/^(.*)$/ WARN H\n",
         .params = "header_size_limit=20\n",
         .message = "Subject: 0123456789abcdef\n more\n\tand more\nX-Short: a\n b\n c\n\nbody\n",
         .notes = "warn: header Subject: 0123456789abcdef: H\nwarn: header X-Short: a  b  c: H\n"},
        {.label = "header_size_limit: what is cut cannot match",
         .header = "/more/ REJECT seen\n",
         .params = "header_size_limit=20\n",
         .message = "Subject: 0123456789abcdef\n more\n\nbody\n"},
        {.label = "a header line longer than line_length_limit is glued back",
         .header = "/^Subject: a+b+$/ WARN whole\n",
         .params = "line_length_limit=16\n",
         .message = "Subject: aaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbb\n\nx\n",
         .notes = "warn: header Subject: aaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbb: "
                  "whole\n"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 200);
}

/* ---- body lines ---- */

static char *long_lines(void)
{
    /* [Postfix] a 5000-byte line in pieces of 2048; a 2047-byte line whole
     * (the piece that ends between CR and LF takes the LF); a dot-stuffed
     * line counts its stuffed dot; a 2048-byte line leaves an empty piece. */
    size_t cap = 20000, n = 0;
    char *m = malloc(cap);
    n += (size_t)snprintf(m + n, cap - n, "Subject: long\n\n");
    memset(m + n, 'a', 2048), n += 2048;
    memset(m + n, 'b', 2048), n += 2048;
    memset(m + n, 'c', 904), n += 904;
    m[n++] = '\n';
    memset(m + n, 'd', 2047), n += 2047;
    m[n++] = '\n';
    memset(m + n, 'e', 2046), n += 2046;
    m[n++] = '\n';
    m[n++] = '.';
    memset(m + n, 'f', 2100), n += 2100;
    m[n++] = '\n';
    memset(m + n, 'g', 2048), n += 2048;
    m[n++] = '\n';
    n += (size_t)snprintf(m + n, cap - n, "end\n");
    return m;
}

static const char long_table[] = "/^(.)\\1*\\r$/ WARN CR $1\n"
                                 "/^\\.f{2046}$/ WARN dot2047\n"
                                 "/^(.)\\1{2047}$/ WARN 2048 $1\n"
                                 "/^(.)\\1{2046}$/ WARN 2047 $1\n"
                                 "/^(.)\\1{2045}$/ WARN 2046 $1\n"
                                 "/^(.)\\1{903}$/ WARN 904 $1\n"
                                 "/^(.)\\1{53}$/ WARN 54 $1\n"
                                 "/^(.)/ WARN other $1\n";

static void test_body(void **state)
{
    char *longmsg = long_lines();
    (void)state;
    const struct content_case cases[] = {
        {.label = "empty lines are never looked up",
         .body = "/^$/ REJECT empty\n/^\\s*$/ REJECT blank\n",
         .message = "Subject: x\n\n\n\nbody\n\n"},
        {.label = "a body line in a base64 part is matched encoded",
         .body = "/^aGVsbG8gd29ybGQK$/ REJECT encoded hello\n/hello world/ REJECT decoded\n",
         .message = mime1,
         .reply = "550 5.7.1 encoded hello"},
        {.label = "quoted-printable soft breaks stay",
         .body = "/^spam=$/ REJECT soft break\n",
         .message = "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                    "spam=\nmer\n",
         .reply = "550 5.7.1 soft break"},
        {.label = "[Postfix] body_checks_size_limit per segment; a boundary line counts in "
                  "the segment it ends",
         .body = WARN_B,
         .params = "body_checks_size_limit=30\n",
         .message = "Subject: lim\nMIME-Version: 1.0\nContent-Type: multipart/mixed; "
                    "boundary=XX\n\npre1 0123456789\npre2 0123456789\npre3 0123456789\n--XX\n"
                    "Content-Type: text/plain\n\np1a 0123456789\np1b 0123456789\np1c "
                    "0123456789\n--XX\n\np2a 0123456789\np2b 0123456789\np2c 0123456789\n"
                    "--XX--\nepi1 0123456789\nepi2 0123456789\nepi3 0123456789\n",
         .notes = "warn: body pre1 0123456789: B\nwarn: body pre2 0123456789: B\n"
                  "warn: body p1a 0123456789: B\nwarn: body p1b 0123456789: B\n"
                  "warn: body p2a 0123456789: B\nwarn: body p2b 0123456789: B\n"
                  "warn: body --XX--: B\nwarn: body epi1 0123456789: B\n"
                  "warn: body epi2 0123456789: B\n"},
        {.label = "body_checks_size_limit = 0: no limit",
         .body = "/^late/ REJECT late\n",
         .params = "body_checks_size_limit=0\n",
         .message = "Subject: x\n\n"
                    "0123456789012345678901234567890123456789012345678901234567890123456789\n"
                    "late\n",
         .reply = "550 5.7.1 late"},
        {.label = "body_checks_size_limit: a line past the limit is not looked up",
         .body = "/^late/ REJECT late\n",
         .params = "body_checks_size_limit=50\n",
         .message = "Subject: x\n\n"
                    "0123456789012345678901234567890123456789012345678901234567890123456789\n"
                    "late\n"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 300);

    /* The long-line case: notes show each piece's length and first byte. */
    const struct content_case pieces = {
        .label = "[Postfix] line_length_limit pieces",
        .body = long_table,
        .message = longmsg,
        .notes = NULL,
    };
    struct src s = {0};
    struct content_rules *rules = load_case(&pieces, 399, &s);
    struct rules_verdict v;
    size_t len;
    char *msg = crlf(longmsg, &len);
    char *rw;
    size_t rwl;
    content_check(rules, msg, len, &v, &rw, &rwl, NULL);
    const char *want[] = {"2048 a",  "2048 b", "904 c",  "2047 d", "2046 e",
                          "dot2047", "54 f",   "2048 g", "other e"};
    assert_int_equal(v.note_count, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < v.note_count; i++) {
        const char *tail = strrchr(v.notes[i].text, ':');
        assert_non_null(tail);
        if (strcmp(tail + 2, want[i]) != 0)
            fail_msg("piece %zu: \"%s\", expected \"%s\"", i, tail + 2, want[i]);
    }
    assert_null(rw);
    rules_verdict_free(&v);
    content_rules_free(rules);
    src_free(&s);
    free(msg);
    free(longmsg);
}

/* ---- actions ---- */

static const char act_header[] = "/^Subject: .*RecordedYou/ DISCARD\n" /* 1 */
                                 "/^X-Mailer: BadMailer/ HOLD\n"       /* 2 */
                                 "/^Received: .*\\[10\\./ IGNORE\n"    /* 3 */
                                 "/^Subject: (replace) me/ REPLACE Subject: replaced $1\n"
                                 "/^X-Prepend:/ PREPEND X-Added: yes\n"     /* 5 */
                                 "/^X-Bad-Prepend:/ PREPEND not a header\n" /* 6 */
                                 "/^X-Reject: (.*)/ REJECT $1\n"            /* 7 */
                                 "/^X-Unknown:/ DEFER try later\n"          /* 8 */
                                 "/^X-Folded:.*\\n\\s+second/ REPLACE X-Folded: unfolded\n"
                                 "/^X-Strip:/ STRIP stripped it\n"           /* 10 */
                                 "/^X-Bcc:/ BCC bcc@sink.test\n"             /* 11 */
                                 "/^X-Redirect:/ REDIRECT other@sink.test\n" /* 12 */
                                 "/^X-Filter: (.*)/ FILTER $1\n"             /* 13 */
                                 "/^X-Warn:/ WARN look\n"                    /* 14 */
                                 "/^X-Info:/ INFO fyi\n"                     /* 15 */
                                 "/^X-Pass:/ PASS trusted\n"                 /* 16 */
                                 "/^X-Dunno:/ DUNNO\n"                       /* 17 */
                                 "/^X-/ REJECT shielded by DUNNO\n"          /* 18 */
                                 "/^Bad-Replace:/ REPLACE no header\n";      /* 19 */

static const char act_body[] = "/^ignore me$/ IGNORE\n"
                               "/^replace (\\w+)$/ REPLACE replaced $1\n"
                               "/^prepend here$/ PREPEND inserted line\n"
                               "/^bad prepend$/ PREPEND\n"
                               "/^body reject$/ REJECT 5.7.0 body said no\n"
                               "/^strip me$/ STRIP gone\n"
                               "/^replace as header$/ REPLACE X-Not: a header in the body\n";

static void test_actions(void **state)
{
    (void)state;
    const struct content_case cases[] = {
        {.label = "[Postfix] IGNORE, REPLACE, PREPEND, STRIP, BCC; bad PREPEND, unknown "
                  "command and PREPEND without text change nothing",
         .header = act_header,
         .body = act_body,
         .message = "Received: from old ([10.0.0.1])\n\tby mx; Mon, 1 Jan 2024\n"
                    "Subject: replace me\nX-Prepend: x\nX-Bad-Prepend: y\nX-Unknown: z\n"
                    "X-Folded: first\n  second\n\tthird\nX-Strip: s\nX-Bcc: b\n"
                    "To: rcpt@sink.test\n\nline one\nignore me\nreplace this\nprepend here\n"
                    "bad prepend\nlast\n",
         .notes = "replace: header Subject: replace me: Subject: replaced replace\n"
                  "prepend: header X-Prepend: x: X-Added: yes\n"
                  "replace: header X-Folded: first   second  third: X-Folded: unfolded\n"
                  "strip: header X-Strip: s: stripped it\n"
                  "bcc: header X-Bcc: b: bcc@sink.test\n"
                  "replace: body replace this: replaced this\n"
                  "prepend: body prepend here: inserted line\n",
         .side = "bcc=bcc@sink.test\n",
         .rewritten = "Subject: replaced replace\nX-Added: yes\nX-Prepend: x\n"
                      "X-Bad-Prepend: y\nX-Unknown: z\nX-Folded: unfolded\nX-Bcc: b\n"
                      "To: rcpt@sink.test\n\nline one\nreplaced this\ninserted line\n"
                      "prepend here\nbad prepend\nlast\n"},
        {.label = "IGNORE in a part header and a nested header; REPLACE in the body, CR LF "
                  "kept",
         .header = "/^X-Drop:/ IGNORE\n/^Subject: inner/ REPLACE Subject: outer view\n",
         .body = "/^part (one) text$/ REPLACE part $1 edited\n",
         .message = "Content-Type: multipart/mixed; boundary=b\n\n--b\nX-Drop: 1\n"
                    "Content-Type: text/plain\n\npart one text\n--b\n"
                    "Content-Type: message/rfc822\n\nSubject: inner\nX-Drop: 2\n  folded\n\n"
                    "inner body\n--b--\n",
         .notes = "replace: body part one text: part one edited\n"
                  "replace: header Subject: inner: Subject: outer view\n",
         .rewritten = "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                      "Content-Type: text/plain\n\npart one edited\n--b\n"
                      "Content-Type: message/rfc822\n\nSubject: outer view\n\ninner body\n"
                      "--b--\n"},
        {.label = "a body REPLACE may look like a header; a header REPLACE must be one",
         .header = act_header,
         .body = act_body,
         .message = "Bad-Replace: x\n\nreplace as header\n",
         .notes = "replace: body replace as header: X-Not: a header in the body\n",
         .rewritten = "Bad-Replace: x\n\nX-Not: a header in the body\n"},
        {.label = "STRIP and IGNORE in the body remove the line",
         .body = act_body,
         .message = "S: x\n\na\nstrip me\nignore me\nb\n",
         .notes = "strip: body strip me: gone\n",
         .rewritten = "S: x\n\na\nb\n"},
        {.label = "HOLD, then inspection goes on; a later REJECT wins",
         .header = act_header,
         .message = "X-Mailer: BadMailer\nX-Reject: later\n\nb\n",
         .reply = "550 5.7.1 later",
         .notes = "hold: header X-Mailer: BadMailer\n",
         .side = "hold=\n"},
        {.label = "HOLD logged once",
         .header = "/^X-Hold: (.*)/ HOLD $1\n",
         .message = "X-Hold: first\nX-Hold: second\n\nb\n",
         .notes = "hold: header X-Hold: first: first\n",
         .side = "hold=first\n"},
        {.label = "DISCARD stops inspection",
         .header = act_header,
         .body = act_body,
         .message = "Subject: hi RecordedYou\nX-Reject: never seen\n\nbody reject\n",
         .notes = "discard: header Subject: hi RecordedYou\n",
         .side = "discard=\n"},
        {.label = "REDIRECT stops inspection",
         .header = act_header,
         .message = "X-Redirect: x\nX-Reject: never seen\nX-Mailer: BadMailer\n\nb\n",
         .notes = "redirect: header X-Redirect: x: other@sink.test\n",
         .side = "redirect=other@sink.test\n"},
        {.label = "PASS stops inspection",
         .header = act_header,
         .message = "X-Pass: yes\nX-Reject: never seen\n\nb\n",
         .notes = "pass: header X-Pass: yes: trusted\n"},
        {.label = "FILTER: the last wins; without transport:destination ignored",
         .header = act_header,
         .message = "X-Filter: smtp:[127.0.0.1]:1\nX-Filter: nocolon\n"
                    "X-Filter: smtp:[127.0.0.1]:2\n\nb\n",
         .notes = "filter: header X-Filter: smtp:[127.0.0.1]:1: smtp:[127.0.0.1]:1\n"
                  "filter: header X-Filter: smtp:[127.0.0.1]:2: smtp:[127.0.0.1]:2\n",
         .side = "filter=smtp:[127.0.0.1]:2\n"},
        {.label = "WARN, INFO; DUNNO shields the header from later lines of the table",
         .header = act_header,
         .message = "X-Warn: a\nX-Info: b\nX-Dunno: c\n\nb\n",
         .notes = "warn: header X-Warn: a: look\ninfo: header X-Info: b: fyi\n"},
        {.label = "REDIRECT and BCC without @ are ignored",
         .header = "/^X-R:/ REDIRECT nobody\n/^X-B:/ BCC nobody\n",
         .message = "X-R: 1\nX-B: 2\n\nb\n"},
        {.label = "a body REJECT with its own code",
         .body = act_body,
         .message = "S: x\n\nbody reject\n",
         .reply = "550 5.7.0 body said no"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 400);
}

/* ---- replies ---- */

static void test_replies(void **state)
{
    (void)state;
    const struct content_case cases[] = {
        {.label = "[Postfix] REJECT with 4.X.Y text: 451",
         .header = act_header,
         .message = "X-Reject: 4.7.1 later please\n\nb\n",
         .reply = "451 4.7.1 later please"},
        {.label = "[Postfix] REJECT text: 550 5.7.1",
         .header = act_header,
         .message = "X-Reject: custom text\n\nb\n",
         .reply = "550 5.7.1 custom text"},
        {.label = "[Postfix] REJECT without text",
         .header = "/^X-Reject:/ REJECT\n",
         .message = "X-Reject: x\n\nb\n",
         .reply = "550 5.7.1 message content rejected"},
        {.label = "[Postfix] REJECT 2.X.Y becomes 4.X.Y",
         .header = act_header,
         .message = "X-Reject: 2.0.0 odd\n\nb\n",
         .reply = "451 4.0.0 odd"},
        {.label = "[Postfix] REJECT 5.1.1 kept",
         .header = act_header,
         .message = "X-Reject: 5.1.1 x\n\nb\n",
         .reply = "550 5.1.1 x"},
        {.label = "the first REJECT ends inspection",
         .header = "/^X-Reject: (.*)/ REJECT $1\n",
         .message = "X-Reject: first\nX-Reject: second\n\nb\n",
         .reply = "550 5.7.1 first"},
        {.label = "[Postfix] the DSN rule (regexp) on a real DSN",
         .type = "regexp",
         .header = "/^Content-Type: multipart\\/report; report-type=delivery-status\\;/   "
                   "REJECT no third-party DSNs\n"
                   "/^Content-Type: message\\/delivery-status; /                         "
                   "REJECT no third-party DSNs\n"
                   "/^Subject: .*RecordedYou/      DISCARD\n"
                   "/^X-Mailer: BadMailer/         HOLD\n"
                   "/^Received: .*\\[10\\./          IGNORE\n",
         .message = "Received: from mx.other.example (mx.other.example [10.9.8.7])\n"
                    "\tby relay.example (Postfix) with ESMTP id 4AB12;\n"
                    "\tMon,  1 Jan 2024 00:00:00 +0000 (UTC)\n"
                    "From: MAILER-DAEMON@other.example (Mail Delivery System)\n"
                    "Subject: Undelivered Mail Returned to Sender\n"
                    "MIME-Version: 1.0\n"
                    "Content-Type: multipart/report; report-type=delivery-status;\n"
                    "\tboundary=\"4AB12.1704067201/other.example\"\n\n"
                    "This is a MIME-encapsulated message.\n\n"
                    "--4AB12.1704067201/other.example\n"
                    "Content-Description: Delivery report\n"
                    "Content-Type: message/delivery-status\n\n"
                    "Reporting-MTA: dns; other.example\n\n"
                    "Final-Recipient: rfc822; nobody@other.example\nAction: failed\n"
                    "Status: 5.1.1\n\n"
                    "--4AB12.1704067201/other.example--\n",
         .reply = "550 5.7.1 no third-party DSNs"},
        {.label = "the DSN rule: message/delivery-status with parameters, in a part",
         .type = "regexp",
         .header = "/^Content-Type: message\\/delivery-status; / REJECT no third-party DSNs\n",
         .message = "Content-Type: multipart/report; boundary=b\n\n--b\n"
                    "Content-Type: message/delivery-status; x=y\n\nAction: failed\n--b--\n",
         .reply = "550 5.7.1 no third-party DSNs"},
        {.label = "the DSN rule: delivery-status content lines are body lines",
         .type = "regexp",
         .header = "/^Action: failed/ REJECT header\n",
         .body = "/^Status: 5/ WARN dsn status\n",
         .message = "Content-Type: multipart/report; boundary=b\n\n--b\n"
                    "Content-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n"
                    "--b--\n",
         .notes = "warn: body Status: 5.1.1: dsn status\n"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 500);
}

/* ---- MIME nesting ---- */

static char *deep_message(int levels)
{
    char *m = malloc(8192);
    size_t n = 0;
    n += (size_t)snprintf(m + n, 8192 - n,
                          "Subject: deep\nMIME-Version: 1.0\n"
                          "Content-Type: multipart/mixed; boundary=b0\n\n");
    for (int i = 1; i < levels; i++)
        n += (size_t)snprintf(m + n, 8192 - n,
                              "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i - 1, i);
    n += (size_t)snprintf(m + n, 8192 - n,
                          "--b%d\nContent-Type: text/plain\nX-Deepest: yes\n\ndeep text\n",
                          levels - 1);
    for (int i = levels - 1; i >= 0; i--)
        n += (size_t)snprintf(m + n, 8192 - n, "--b%d--\n", i);
    return m;
}

static void test_nesting(void **state)
{
    char *deep = deep_message(6);
    (void)state;
    const struct content_case cases[] = {
        {.label = "[Postfix] six multipart levels, mime_nesting_limit 3: rejected",
         .header = "/^X-Nothing:/ DUNNO\n",
         .params = "mime_nesting_limit=3\n",
         .message = deep,
         .reply = "550 5.6.0 MIME nesting exceeds safety limit"},
        {.label = "[Postfix] six multipart levels, mime_nesting_limit 4: accepted",
         .header = "/^X-Nothing:/ DUNNO\n",
         .params = "mime_nesting_limit=4\n",
         .message = deep},
        {.label = "[Postfix] nesting is not reported with body_checks only",
         .body = "/^nothing/ DUNNO\n",
         .params = "mime_nesting_limit=2\n",
         .message = deep},
        {.label = "headers below the limit are inspected as body lines",
         .header = "/^X-Deepest:/ WARN header\n",
         .body = "/^X-Deepest:/ WARN body\n",
         .params = "mime_nesting_limit=3\n",
         .message = deep,
         .reply = "550 5.6.0 MIME nesting exceeds safety limit",
         .notes = "warn: body X-Deepest: yes: body\n"},
        {.label = "a REJECT reason wins over the nesting error",
         .header = "/^Subject: deep/ REJECT subject\n",
         .params = "mime_nesting_limit=0\n",
         .message = deep,
         .reply = "550 5.7.1 subject"},
        {.label = "[Postfix] DISCARD wins over a nesting error",
         .header = "/^Subject: deep/ DISCARD\n",
         .params = "mime_nesting_limit=1\n",
         .message = deep,
         .notes = "discard: header Subject: deep\n",
         .side = "discard=\n"},
        {.label = "[Postfix] the nesting error is still found after a REDIRECT",
         .header = "/^Subject: deep/ REDIRECT x@sink.test\n",
         .params = "mime_nesting_limit=1\n",
         .message = deep,
         .reply = "550 5.6.0 MIME nesting exceeds safety limit",
         .notes = "redirect: header Subject: deep: x@sink.test\n",
         .side = "redirect=x@sink.test\n"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 600);
    free(deep);
}

/* ---- loading, explain ---- */

static void test_load(void **state)
{
    (void)state;
    struct {
        const char *label;
        const char *name;
        const char *value;
        const char *err; /* substring */
    } cases[] = {
        {"table without type", "header_checks", "/etc/nothing",
         "parameter header_checks: bad table"},
        {"unknown table type", "body_checks", "nosuch:/x", "parameter body_checks: "},
        {"missing file", "header_checks", "pcre:/nonexistent/x", "parameter header_checks: "},
        {"bad number", "header_size_limit", "10k",
         "bad numerical configuration: header_size_limit"},
        {"zero header_size_limit", "header_size_limit", "0", "bad numerical configuration"},
        {"bad boolean", "disable_mime_input_processing", "maybe", "bad boolean configuration"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct src s = {0};
        struct rules_source source = {src_get, NULL, &s};
        char err[1024] = "";
        src_set(&s, cases[i].name, cases[i].value);
        struct content_rules *rules = content_rules_load(&source, err, sizeof(err));
        if (rules != NULL)
            fail_msg("%s: loaded", cases[i].label);
        if (strstr(err, cases[i].err) == NULL)
            fail_msg("%s: error \"%s\", expected \"%s\"", cases[i].label, err, cases[i].err);
        src_free(&s);
    }

    /* Nothing set: empty, and a check changes nothing. */
    struct src s = {0};
    struct rules_source source = {src_get, NULL, &s};
    char err[256];
    struct content_rules *rules = content_rules_load(&source, err, sizeof(err));
    assert_non_null(rules);
    assert_true(content_rules_empty(rules));
    assert_false(content_rules_changed(rules));
    content_rules_free(rules);

    /* One table named by three parameters is opened once; changes are seen. */
    char spec[512], path[400];
    table_file("pcre", "shared", "/^X-A:/ REJECT a\n", spec, sizeof(spec));
    src_set(&s, "header_checks", spec);
    rules = content_rules_load(&source, err, sizeof(err));
    assert_non_null(rules);
    assert_false(content_rules_empty(rules));
    assert_false(content_rules_changed(rules));
    snprintf(path, sizeof(path), "%s/shared", tmpdir);
    sleep(1);
    write_file(path, "/^X-B:/ REJECT b\n# changed\n");
    assert_true(content_rules_changed(rules));
    content_rules_free(rules);
    src_free(&s);

    /* A list of tables: searched in order, the first answer wins. */
    char spec2[512], list[1100];
    table_file("pcre", "first", "/^X-Multi:/ WARN first\n", spec, sizeof(spec));
    table_file("regexp", "second", "/^X-Multi:/ WARN second\n/^X-Only-B:/ WARN second\n", spec2,
               sizeof(spec2));
    snprintf(list, sizeof(list), "%s, %s", spec, spec2);
    src_set(&s, "header_checks", list);
    rules = content_rules_load(&source, err, sizeof(err));
    assert_non_null(rules);
    struct rules_verdict v;
    size_t len;
    char *msg = crlf("X-Multi: 1\nX-Only-B: 2\n\nb\n", &len);
    char *rw;
    size_t rwl;
    content_check(rules, msg, len, &v, &rw, &rwl, NULL);
    char *notes = join_notes(&v);
    assert_string_equal(notes,
                        "warn: header X-Multi: 1: first\nwarn: header X-Only-B: 2: second\n");
    free(notes);
    free(msg);
    rules_verdict_free(&v);
    content_rules_free(rules);
    src_free(&s);
}

struct lines {
    char text[8192];
    size_t len;
};

static void collect(void *ctx, int depth, const char *text)
{
    struct lines *l = ctx;
    l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%d %s\n", depth, text);
}

static void test_explain(void **state)
{
    (void)state;
    const struct content_case c = {
        .label = "explain",
        .header = "/^Subject: (.*)/ WARN subject $1\n/^X-Drop:/ IGNORE\n",
        .body = "/^needle$/ REJECT found it\n",
        .message = "Subject: hi\nX-Drop: a\n b\nContent-Type: multipart/mixed; boundary=q\n\n"
                   "--q\n\nneedle\n--q--\n",
    };
    struct src s = {0};
    struct content_rules *rules = load_case(&c, 700, &s);
    struct rules_verdict v;
    struct lines l = {.len = 0};
    struct rules_explain explain = {collect, &l};
    size_t len;
    char *msg = crlf(c.message, &len);
    char *rw;
    size_t rwl;
    char want[2048];

    content_check(rules, msg, len, &v, &rw, &rwl, &explain);
    assert_string_equal(v.reply, "550 5.7.1 found it");
    assert_null(rw);
    snprintf(want, sizeof(want),
             "1 header_checks %s/t700_header_checks, line 1 \"/^Subject: (.*)/ WARN subject $1\": "
             "header at line 1 (primary headers) \"Subject: hi\" -> WARN subject hi\n"
             "2 logged as warning\n"
             "1 header_checks %s/t700_header_checks, line 2 \"/^X-Drop:/ IGNORE\": header at line "
             "2 (primary headers) \"X-Drop: a\\n b\" -> IGNORE\n"
             "2 header removed (lines 2 to 3)\n"
             "1 body_checks %s/t700_body_checks, line 1 \"/^needle$/ REJECT found it\": body line "
             "at line 8 (body of part 1) \"needle\" -> REJECT found it\n"
             "2 message rejected: 550 5.7.1 found it; inspection stops\n"
             "0 content checks: 3 header(s) and 2 body line(s) looked up; reply 550 5.7.1 found "
             "it\n",
             tmpdir, tmpdir, tmpdir);
    assert_string_equal(l.text, want);
    rules_verdict_free(&v);
    content_rules_free(rules);
    src_free(&s);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing), cmocka_unit_test(test_headers),
        cmocka_unit_test(test_body),    cmocka_unit_test(test_actions),
        cmocka_unit_test(test_replies), cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_load),    cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
