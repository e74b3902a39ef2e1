/*
 * test_rules_mime.c - the MIME rules (rules/mime_rules.h): file names
 * (plain, RFC 2047, RFC 2231 continuations and charsets, nested messages),
 * content types, decoded text (base64, quoted-printable, charsets), every
 * action, every limit, strict_mime_checks, ambiguous MIME, configuration
 * errors and --explain.
 *
 * Tables are written to a temporary directory at setup; configurations
 * come through a fake rules_source ("name = value" lines, line N of
 * "test.cf"; a later line overrides an earlier one). Messages are written
 * with "\n" and sent with CRLF line ends, as the daemon hands them over.
 * Broken and huge inputs are in test_rules_mime_broken.c.
 */
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

#include "tests/unit/test_rules_mime.h"

/* Cases name only the fields they expect; the rest are NULL. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static char tmpdir[] = "/tmp/test_rules_mime.XXXXXX";

static const char names_table[] = "/^dunnome/ DUNNO\n"
                                  "/^okme/ OK\n"
                                  "/^holdme/ HOLD held by name\n"
                                  "/^discardme/ DISCARD\n"
                                  "/^redirectme/ REDIRECT quarantine@example.com\n"
                                  "/^filterme/ FILTER smtp:[127.0.0.1]:10099\n"
                                  "/^bccme/ BCC audit@example.com\n"
                                  "/^warnme/ WARN suspicious name\n"
                                  "/^infome/ INFO noted name\n"
                                  "/^ignoreme/ IGNORE\n"
                                  "/^prependme/ PREPEND X-Foo: bar\n"
                                  "/^unknownme/ FROBNICATE\n"
                                  "/^badredirect/ REDIRECT nowhere\n"
                                  "/^fivedsn/ REJECT 5.7.0 custom five\n"
                                  "/^twodsn/ REJECT 2.0.0 odd\n"
                                  "/^plainreject/ REJECT\n"
                                  "/^résumé\\.pdf$/ REJECT 4.7.1 try later\n"
                                  "/\\.(exe|scr|js|vbs)$/ REJECT Executable attachments are not "
                                  "accepted\n";

static const char types_table[] = "/^application\\/x-msdownload$/ REJECT no executables\n"
                                  "/^multipart\\/report$/ WARN report\n"
                                  "/^message\\/delivery-status$/ REJECT no third-party DSNs\n"
                                  "/^image\\/x-hold$/ HOLD\n";

static const char body_table[] = "/secret phrase/ REJECT phrase found\n"
                                 "/café latte/ REJECT coffee\n"
                                 "/^tail end$/ REJECT tail piece\n"
                                 "/^holdline$/ HOLD line hold\n";

static int setup(void **state)
{
    (void)state;
    mime_rules_process_init();
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    mt_write_file(tmpdir, "names.pcre", names_table);
    mt_write_file(tmpdir, "types.pcre", types_table);
    mt_write_file(tmpdir, "body.pcre", body_table);
    mt_write_file(tmpdir, "bad.pcre", "/(unclosed/ REJECT\n");
    return 0;
}

static int teardown(void **state)
{
    char path[512];
    const char *files[] = {"names.pcre", "types.pcre", "body.pcre", "bad.pcre"};

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

/* The three tables, then the case's lines. */
static char *config_with(const char *extra)
{
    return mt_asprintf("attachment_name_checks = pcre:%s/names.pcre\n"
                       "attachment_type_checks = pcre:%s/types.pcre\n"
                       "decoded_body_checks = pcre:%s/body.pcre\n%s",
                       tmpdir, tmpdir, tmpdir, extra ? extra : "");
}

#define HDR "From: a@example.com\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
#define MIXED HDR "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
#define TEXT_PART "--b1\nContent-Type: text/plain\n\nhello\n"
#define ATTACH(disp) "--b1\nContent-Type: application/octet-stream\n" disp "\nxx\n"
#define NAMED(n) ATTACH("Content-Disposition: attachment; filename=\"" n "\"\n")
#define END "--b1--\n"

struct mime_case {
    const char *label;
    const char *config; /* extra lines */
    const char *message;
    const char *reply; /* NULL: accepted */
    const char *hold;
    const char *discard;
    const char *redirect;
    const char *filter;
    const char *bcc;
    const char *note; /* "kind: text" expected among the notes */
};

static void run_cases(const struct mime_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct mime_case *c = &cases[i];
        char *config = config_with(c->config);
        struct mt_result r;

        mt_run(config, c->message, 1, &r);
        mt_expect(c->label, "reply", c->reply, r.verdict.reply);
        mt_expect(c->label, "hold", c->hold, r.verdict.hold);
        mt_expect(c->label, "discard", c->discard, r.verdict.discard);
        mt_expect(c->label, "redirect", c->redirect, r.verdict.redirect);
        mt_expect(c->label, "filter", c->filter, r.verdict.filter);
        mt_expect(c->label, "bcc", c->bcc, r.verdict.bcc_count ? r.verdict.bcc[0] : NULL);
        if (c->note != NULL && !mt_has_note(&r.verdict, c->note))
            mt_fail(c->label, "note \"%s\" missing; notes: %s", c->note,
                    r.verdict.note_count ? r.verdict.notes[0].text : "(none)");
        mt_result_free(&r);
        free(config);
    }
}

/* ---- file names ---- */

static void test_names(void **state)
{
    static const struct mime_case cases[] = {
        {"plain filename, executable", NULL, MIXED TEXT_PART NAMED("setup.exe") END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"plain filename, harmless", NULL, MIXED TEXT_PART NAMED("report.pdf") END, NULL},
        {"RFC 2047 UTF-8 B word in Content-Type name=", NULL,
         MIXED TEXT_PART "--b1\nContent-Type: application/octet-stream;"
                         " name=\"=?UTF-8?B?w6l0w6kuanM=?=\"\n\nxx\n" END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"RFC 2047 ISO-8859-1 Q word in filename, decoded to UTF-8", NULL,
         MIXED NAMED("=?ISO-8859-1?Q?r=E9sum=E9.pdf?=") END, "451 4.7.1 try later"},
        {"RFC 2231 continuations with UTF-8 charset", NULL,
         MIXED ATTACH("Content-Disposition: attachment;\n filename*0*=UTF-8''%C3%A9t%C3%A9;\n"
                      " filename*1=\".e\";\n filename*2=\"xe\"\n") END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"RFC 2231 continuations with ISO-8859-1 charset, decoded to UTF-8", NULL,
         MIXED ATTACH("Content-Disposition: attachment;\n filename*0*=ISO-8859-1''r%E9sum%E9;\n"
                      " filename*1=\".pdf\"\n") END,
         "451 4.7.1 try later"},
        {"RFC 2231 continuation out of order still joins", NULL,
         MIXED ATTACH("Content-Disposition: attachment;\n filename*1=\"xe\";\n"
                      " filename*0=\"run.e\"\n") END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"name= only, no Content-Disposition", NULL,
         MIXED "--b1\nContent-Type: application/octet-stream; name=\"x.vbs\"\n\nxx\n" END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"filename harmless, name= executable: both looked up", NULL,
         MIXED "--b1\nContent-Type: application/octet-stream; name=\"x.scr\"\n"
               "Content-Disposition: attachment; filename=\"x.txt\"\n\nxx\n" END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"file name of a part of an attached message", NULL,
         MIXED TEXT_PART "--b1\nContent-Type: message/rfc822\n\n"
                         "Subject: inner\nMIME-Version: 1.0\n"
                         "Content-Type: multipart/mixed; boundary=\"in\"\n\n"
                         "--in\nContent-Type: text/plain\n\ninner text\n"
                         "--in\nContent-Type: application/zip\n"
                         "Content-Disposition: attachment; filename=\"inner.js\"\n\nzz\n"
                         "--in--\n" END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"file name of a single-part attached message", NULL,
         MIXED "--b1\nContent-Type: message/rfc822\n\nSubject: inner\n"
               "Content-Type: application/octet-stream; name=\"deep.exe\"\n\nzz\n" END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"top-level single part with a file name", NULL,
         HDR "Content-Type: application/octet-stream\n"
             "Content-Disposition: attachment; filename=\"top.exe\"\n\nxx\n",
         "550 5.7.1 Executable attachments are not accepted"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- content types ---- */

static void test_types(void **state)
{
    static const struct mime_case cases[] = {
        {"declared type, folded to lower case", NULL,
         MIXED TEXT_PART "--b1\nContent-Type: Application/X-MSDownload\n\nMZ\n" END,
         "550 5.7.1 no executables"},
        {"DSN: multipart/report warns, message/delivery-status rejects", NULL,
         HDR "Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n"
             "--r\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
             "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
             "Final-Recipient: rfc822; b@example.com\nAction: failed\nStatus: 5.1.1\n"
             "--r--\n",
         "550 5.7.1 no third-party DSNs",
         .note = "warn: part 0 content type multipart/report: "
                 "report"},
        {"top-level single part type, HOLD without text", NULL,
         HDR "Content-Type: image/x-hold\n\nxx\n", NULL, ""},
        {"no Content-Type: text/plain, nothing matches", NULL, "Subject: plain\n\nhello\n", NULL},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- decoded text ---- */

static void test_decoded(void **state)
{
    static const struct mime_case cases[] = {
        {"phrase hidden in base64", NULL,
         MIXED "--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
               "SGVsbG8sDQp0aGlzIGlzIHRoZSBzZWNyZXQgcGhyYXNlLg0K\n" END,
         "550 5.7.1 phrase found"},
        {"phrase split by a quoted-printable soft line break", NULL,
         MIXED "--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
               "this is the secret phr=\nase, decoded\n" END,
         "550 5.7.1 phrase found"},
        {"phrase with quoted-printable escapes", NULL,
         MIXED "--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
               "the =73ecret=20phrase\n" END,
         "550 5.7.1 phrase found"},
        {"ISO-8859-1 quoted-printable converted to UTF-8", NULL,
         MIXED "--b1\nContent-Type: text/plain; charset=iso-8859-1\n"
               "Content-Transfer-Encoding: quoted-printable\n\nun caf=E9 latte\n" END,
         "550 5.7.1 coffee"},
        {"ISO-8859-1 base64 converted to UTF-8", NULL,
         HDR "Content-Type: text/plain; charset=\"ISO-8859-1\"\n"
             "Content-Transfer-Encoding: base64\n\ndW4gY2Fm6SBsYXR0ZQ0K\n",
         "550 5.7.1 coffee"},
        {"Latin-1 bytes declared UTF-8: not converted, no match", NULL,
         HDR "Content-Type: text/plain; charset=utf-8\n\nun caf\xe9 latte\n", NULL},
        {"ISO-8859-1 8bit converted", NULL,
         HDR "Content-Type: text/plain; charset=iso-8859-1\n\nun caf\xe9 latte\n",
         "550 5.7.1 coffee"},
        {"text/html inspected as is", NULL,
         MIXED "--b1\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
               "PHA+dGhlIHNlY3JldCBwaHJhc2U8L3A+DQo=\n" END,
         "550 5.7.1 phrase found"},
        {"base64 application part is not text: not inspected", NULL,
         MIXED "--b1\nContent-Type: application/octet-stream\n"
               "Content-Transfer-Encoding: base64\n\nTVogc2VjcmV0IHBocmFzZSBiaW5hcnkNCg==\n" END,
         NULL},
        {"text of an attached message", NULL,
         MIXED TEXT_PART "--b1\nContent-Type: message/rfc822\n\nSubject: inner\n"
                         "Content-Transfer-Encoding: base64\n\n"
                         "SGVsbG8sDQp0aGlzIGlzIHRoZSBzZWNyZXQgcGhyYXNlLg0K\n" END,
         "550 5.7.1 phrase found"},
        {"unknown charset: inspected as received", NULL,
         HDR "Content-Type: text/plain; charset=x-no-such-charset\n\nthe secret phrase\n",
         "550 5.7.1 phrase found"},
        {"line anchors see one decoded line", NULL,
         HDR "Content-Type: text/plain\n\nfirst\nholdline\nlast\n", NULL, "line hold"},
        {"empty decoded text", NULL,
         HDR "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n\n", NULL},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- actions ---- */

static void test_actions(void **state)
{
    static const struct mime_case cases[] = {
        {"REJECT default text", NULL, MIXED NAMED("plainreject.txt") END,
         "550 5.7.1 message content rejected"},
        {"REJECT 5.X.Y text", NULL, MIXED NAMED("fivedsn.txt") END, "550 5.7.0 custom five"},
        {"REJECT 4.X.Y text: 451", NULL, MIXED NAMED("résumé.pdf") END, "451 4.7.1 try later"},
        {"REJECT 2.X.Y text made 4.X.Y", NULL, MIXED NAMED("twodsn.txt") END, "451 4.0.0 odd"},
        {"DISCARD stops: a later executable is not looked up", NULL,
         MIXED NAMED("discardme.txt") NAMED("later.exe") END, NULL, .discard = "",
         .note = "discard: part 1 file name discardme.txt"},
        {"HOLD goes on: a later REJECT still rejects", NULL,
         MIXED NAMED("holdme.txt") NAMED("later.exe") END,
         "550 5.7.1 Executable attachments are not accepted", "held by name"},
        {"HOLD alone", NULL, MIXED NAMED("holdme.txt") END, NULL, "held by name",
         .note = "hold: part 1 file name holdme.txt: held by name"},
        {"REDIRECT stops", NULL, MIXED NAMED("redirectme.txt") NAMED("later.exe") END, NULL,
         .redirect = "quarantine@example.com"},
        {"FILTER", NULL, MIXED NAMED("filterme.txt") END, NULL, .filter = "smtp:[127.0.0.1]:10099"},
        {"BCC", NULL, MIXED NAMED("bccme.txt") END, NULL, .bcc = "audit@example.com"},
        {"WARN", NULL, MIXED NAMED("warnme.txt") END, NULL,
         .note = "warn: part 1 file name warnme.txt: suspicious name"},
        {"INFO", NULL, MIXED NAMED("infome.txt") END, NULL,
         .note = "info: part 1 file name infome.txt: noted name"},
        {"DUNNO shields the entries after it", NULL, MIXED NAMED("dunnome.exe") END, NULL},
        {"OK shields the entries after it", NULL, MIXED NAMED("okme.exe") END, NULL},
        {"IGNORE: no effect", NULL, MIXED NAMED("ignoreme.exe") END, NULL},
        {"PREPEND: no effect", NULL, MIXED NAMED("prependme.exe") END, NULL},
        {"unknown command: no effect", NULL, MIXED NAMED("unknownme.exe") END, NULL},
        {"REDIRECT without @: no effect", NULL, MIXED NAMED("badredirect.exe") END, NULL},
        {"decoded line HOLD and later REJECT by name", NULL,
         MIXED "--b1\nContent-Type: text/plain\n\nholdline\n" NAMED("x.exe") END,
         "550 5.7.1 Executable attachments are not accepted", "line hold"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- limits ---- */

static void test_limits(void **state)
{
    static const struct mime_case cases[] = {
        {"mime_parts_limit: 4 objects, limit 3", "mime_parts_limit = 3\n",
         MIXED TEXT_PART NAMED("a.txt") NAMED("b.txt") END,
         "550 5.6.0 MIME part count exceeds safety limit"},
        {"mime_parts_limit: 4 objects, limit 4", "mime_parts_limit = 4\n",
         MIXED TEXT_PART NAMED("a.txt") NAMED("b.txt") END, NULL},
        {"mime_parts_limit: a REJECT before the limit wins", "mime_parts_limit = 2\n",
         MIXED NAMED("a.exe") NAMED("b.txt") END,
         "550 5.7.1 Executable attachments are not accepted"},
        {"mime_nesting_limit: depth 2, limit 1", "mime_nesting_limit = 1\n",
         MIXED "--b1\nContent-Type: multipart/mixed; boundary=\"b2\"\n\n"
               "--b2\nContent-Type: text/plain\n\nx\n--b2--\n" END,
         "550 5.6.0 MIME nesting exceeds safety limit"},
        {"mime_nesting_limit: depth 2, limit 2", "mime_nesting_limit = 2\n",
         MIXED "--b1\nContent-Type: multipart/mixed; boundary=\"b2\"\n\n"
               "--b2\nContent-Type: text/plain\n\nx\n--b2--\n" END,
         NULL},
        {"mime_nesting_limit: an attached message counts a level", "mime_nesting_limit = 1\n",
         MIXED "--b1\nContent-Type: message/rfc822\n\nSubject: in\n\nx\n" END,
         "550 5.6.0 MIME nesting exceeds safety limit"},
        {"decoded_body_size_limit: phrase after the limit", "decoded_body_size_limit = 10\n",
         HDR "Content-Type: text/plain\n\n0123456789 the secret phrase\n", NULL},
        {"decoded_body_size_limit: phrase within the limit", "decoded_body_size_limit = 30\n",
         HDR "Content-Type: text/plain\n\nthe secret phrase\n", "550 5.7.1 phrase found"},
        {"decoded_body_size_limit: counted per message, not per part",
         "decoded_body_size_limit = 25\n",
         MIXED "--b1\nContent-Type: text/plain\n\n01234567890123456789\n"
               "--b1\nContent-Type: text/plain\n\nthe secret phrase\n" END,
         NULL},
        {"decoded_body_size_limit = 0: no decoded text inspected", "decoded_body_size_limit = 0\n",
         HDR "Content-Type: text/plain\n\nthe secret phrase\n", NULL},
        {"line_length_limit: a long line is looked up in pieces", "line_length_limit = 10\n",
         HDR "Content-Type: text/plain\n\n0123456789tail end\n", "550 5.7.1 tail piece"},
        {"line_length_limit: a piece never splits a UTF-8 character", "line_length_limit = 10\n",
         HDR "Content-Type: text/plain; charset=utf-8\n\n012345678\xc3\xa9tail end\n", NULL},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- strict and ambiguous MIME ---- */

#define TWO_BOUNDARIES                                                                             \
    HDR "Content-Type: multipart/mixed; boundary=\"a\"; boundary=\"b\"\n\n"                        \
        "--a\nContent-Type: text/plain\n\nA\n"                                                     \
        "--b\nContent-Type: application/octet-stream; name=\"hidden.txt\"\n\nB\n--b--\n--a--\n"
#define NO_BOUNDARY                                                                                \
    HDR "Content-Type: multipart/mixed\n\n--a\nContent-Type: text/plain\n\nA\n--a--\n"
#define TWO_TYPES                                                                                  \
    HDR "Content-Type: text/plain\nContent-Type: multipart/mixed; boundary=\"a\"\n\n"              \
        "--a\nContent-Type: text/plain\n\nA\n--a--\n"
#define TRUNCATED MIXED "--b1\nContent-Type: text/plain\n\nno end"

static void test_strict_ambiguous(void **state)
{
    static const struct mime_case cases[] = {
        {"binary garbage, strict_mime_checks = no: relayed, noted", NULL,
         "\x01\x02\xff\xfe garbage\n\n\x80\x81", NULL,
         .note = "info: malformed MIME, relayed as received: invalid header name (  ?? garbage)"},
        {"binary garbage, strict_mime_checks = yes", "strict_mime_checks = yes\n",
         "\x01\x02\xff\xfe garbage\n\n\x80\x81", "550 5.6.0 Message is not valid MIME"},
        {"truncated multipart, strict_mime_checks = yes", "strict_mime_checks = yes\n", TRUNCATED,
         "550 5.6.0 Message is not valid MIME"},
        {"truncated multipart, strict_mime_checks = no", NULL, TRUNCATED, NULL,
         .note = "info: malformed MIME, relayed as received: truncated message"},
        {"well-formed message, strict_mime_checks = yes", "strict_mime_checks = yes\n",
         MIXED TEXT_PART END, NULL},
        {"two boundary parameters, default dunno: logged", NULL, TWO_BOUNDARIES, NULL,
         .note = "info: ambiguous MIME: conflicting parameters (boundary)"},
        {"two boundary parameters, warn", "ambiguous_mime_action = warn\n", TWO_BOUNDARIES, NULL,
         .note = "warn: ambiguous MIME: conflicting parameters (boundary)"},
        {"two boundary parameters, hold", "ambiguous_mime_action = hold\n", TWO_BOUNDARIES, NULL,
         "ambiguous MIME: conflicting parameters (boundary)"},
        {"two boundary parameters, defer", "ambiguous_mime_action = DEFER\n", TWO_BOUNDARIES,
         "451 4.6.0 Ambiguous MIME structure"},
        {"multipart without boundary, defer", "ambiguous_mime_action = defer\n", NO_BOUNDARY,
         "451 4.6.0 Ambiguous MIME structure",
         .note = "info: ambiguous MIME: multipart without boundary (mixed)"},
        {"two Content-Type headers, hold", "ambiguous_mime_action = hold\n", TWO_TYPES, NULL,
         "ambiguous MIME: conflicting headers (Content-Type)"},
        {"a REJECT wins over defer", "ambiguous_mime_action = defer\n",
         HDR "Content-Type: multipart/mixed; boundary=\"a\"; boundary=\"b\"\n\n"
             "--a\nContent-Type: text/plain; name=\"x.exe\"\n\nA\n--a--\n",
         "550 5.7.1 Executable attachments are not accepted"},
        {"a REJECT wins over strict", "strict_mime_checks = yes\n",
         MIXED "--b1\nContent-Type: text/plain; name=\"x.exe\"\n\nno end",
         "550 5.7.1 Executable attachments are not accepted"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- loading ---- */

static void test_load(void **state)
{
    struct {
        const char *label;
        const char *config;
        const char *err; /* prefix; "%s" is the table directory */
        int empty;
    } cases[] = {
        {"nothing set: empty", "", NULL, 1},
        {"ambiguous dunno only: empty", "ambiguous_mime_action = dunno\n", NULL, 1},
        {"strict only: not empty", "strict_mime_checks = yes\n", NULL, 0},
        {"ambiguous hold only: not empty", "ambiguous_mime_action = hold\n", NULL, 0},
        {"a table: not empty", "attachment_type_checks = pcre:%s/types.pcre\n", NULL, 0},
        {"bad regex in a table", "x = y\nattachment_name_checks = pcre:%s/bad.pcre\n",
         "test.cf, line 2: parameter attachment_name_checks: %s/bad.pcre, line 1: ", 0},
        {"missing table file", "decoded_body_checks = pcre:%s/none.pcre\n",
         "test.cf, line 1: parameter decoded_body_checks: ", 0},
        {"no type:", "attachment_type_checks = types\n",
         "test.cf, line 1: parameter attachment_type_checks: bad table \"types\": need "
         "type:name",
         0},
        {"bad number", "mime_parts_limit = lots\n",
         "test.cf, line 1: bad numerical configuration: mime_parts_limit = lots", 0},
        {"parts limit 0", "mime_parts_limit = 0\n",
         "test.cf, line 1: bad numerical configuration: mime_parts_limit = 0", 0},
        {"bad boolean", "strict_mime_checks = maybe\n",
         "test.cf, line 1: bad boolean configuration: strict_mime_checks = maybe", 0},
        {"bad ambiguous action", "ambiguous_mime_action = reject\n",
         "test.cf, line 1: bad ambiguous_mime_action value: reject (need dunno, warn, hold or "
         "defer)",
         0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *config = mt_asprintf(cases[i].config, tmpdir);
        char *want = cases[i].err ? mt_asprintf(cases[i].err, tmpdir) : NULL;
        char err[1024];
        struct mime_rules *rules = mt_load(config, err, sizeof(err));

        if (want == NULL) {
            if (rules == NULL)
                mt_fail(cases[i].label, "load failed: %s", err);
            if (mime_rules_empty(rules) != cases[i].empty)
                mt_fail(cases[i].label, "empty %d", mime_rules_empty(rules));
        } else {
            if (rules != NULL)
                mt_fail(cases[i].label, "loaded, want error %s", want);
            if (strncmp(err, want, strlen(want)) != 0)
                mt_fail(cases[i].label, "error \"%s\", want \"%s...\"", err, want);
        }
        mime_rules_free(rules);
        free(config);
        free(want);
    }
}

static void test_changed(void **state)
{
    char err[1024];
    char *config = mt_asprintf("attachment_type_checks = pcre:%s/changing.pcre\n", tmpdir);
    struct mime_rules *rules;

    (void)state;
    mt_write_file(tmpdir, "changing.pcre", "/^x\\/y$/ REJECT\n");
    rules = mt_load(config, err, sizeof(err));
    assert_non_null(rules);
    assert_int_equal(mime_rules_changed(rules), 0);
    mt_write_file(tmpdir, "changing.pcre", "/^x\\/y$/ REJECT changed\n");
    assert_int_equal(mime_rules_changed(rules), 1);
    mime_rules_free(rules);
    free(config);
    config = mt_asprintf("%s/changing.pcre", tmpdir);
    unlink(config);
    free(config);
}

/* ---- explain ---- */

static void test_explain(void **state)
{
    char *config = config_with(NULL);
    struct mt_result r;
    char *want[16];
    size_t n = 0;

    (void)state;
    mt_run(config,
           MIXED TEXT_PART "--b1\nContent-Type: message/rfc822\n\n"
                           "Subject: inner\nMIME-Version: 1.0\n"
                           "Content-Type: multipart/mixed; boundary=\"in\"\n\n"
                           "--in\nContent-Type: text/plain\n\ninner text\n"
                           "--in\nContent-Type: application/zip\n"
                           "Content-Disposition: attachment; filename=\"evil.exe\"\n\nzz\n"
                           "--in--\n" END,
           1, &r);
    want[n++] = mt_asprintf("1 part 0: multipart/mixed");
    want[n++] = mt_asprintf("1 part 1: text/plain");
    want[n++] = mt_asprintf("2 5 decoded byte(s) inspected");
    want[n++] = mt_asprintf("1 part 2: message/rfc822");
    want[n++] = mt_asprintf("1 part 2: multipart/mixed");
    want[n++] = mt_asprintf("1 part 2.1: text/plain");
    want[n++] = mt_asprintf("2 10 decoded byte(s) inspected");
    want[n++] = mt_asprintf("1 part 2.2: application/zip");
    want[n++] = mt_asprintf("2 attachment_name_checks %s/names.pcre, line 18 "
                            "\"/\\.(exe|scr|js|vbs)$/ REJECT Executable attachments are not "
                            "accepted\": part 2.2 file name \"evil.exe\" -> REJECT Executable "
                            "attachments are not accepted",
                            tmpdir);
    want[n++] = mt_asprintf("3 message rejected: 550 5.7.1 Executable attachments are not "
                            "accepted; inspection stops");
    want[n++] = mt_asprintf("0 MIME rules: 6 part(s), 1 file name(s), 2 decoded line(s) looked "
                            "up; reply 550 5.7.1 Executable attachments are not accepted");
    for (size_t i = 0; i < n || i < r.explain_count; i++) {
        const char *got = i < r.explain_count ? r.explain[i] : "(none)";
        const char *exp = i < n ? want[i] : "(none)";
        if (strcmp(got, exp) != 0)
            mt_fail("explain", "line %zu: got \"%s\", want \"%s\"", i + 1, got, exp);
    }
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    mt_result_free(&r);
    free(config);
}

/* ---- committed fixtures: the .eml files in tests/unit/mime (CRLF) ---- */

static char *read_fixture(const char *name, size_t *len)
{
    const char *slash = strrchr(__FILE__, '/');
    char *path = mt_asprintf("%.*s/mime/%s", slash ? (int)(slash - __FILE__) : 1,
                             slash ? __FILE__ : ".", name);
    FILE *fp = fopen(path, "rb");
    char *data;
    long size;

    if (fp == NULL)
        mt_fail(name, "cannot open %s", path);
    free(path);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    rewind(fp);
    data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    data[size] = '\0';
    fclose(fp);
    *len = (size_t)size;
    return data;
}

static void test_fixtures(void **state)
{
    static const struct {
        const char *file;
        const char *config;
        const char *reply;
        const char *hold;
    } cases[] = {
        {"rfc2231-continuation-exe.eml", NULL, "550 5.7.1 Executable attachments are not accepted"},
        {"rfc2047-latin1-name.eml", NULL, "451 4.7.1 try later"},
        {"base64-phrase.eml", NULL, "550 5.7.1 phrase found"},
        {"qp-latin1-phrase.eml", NULL, "550 5.7.1 coffee"},
        {"dsn-report.eml", NULL, "550 5.7.1 no third-party DSNs"},
        {"nested-rfc822-exe.eml", NULL, "550 5.7.1 Executable attachments are not accepted"},
        /* GMime takes boundary "a": hidden.exe is text of part 1 to it, a
         * part to a reader that takes "b". */
        {"two-boundaries.eml", NULL, NULL},
        {"two-boundaries.eml", "ambiguous_mime_action = hold\n", NULL,
         "ambiguous MIME: conflicting parameters (boundary)"},
        {"plain-clean.eml", "strict_mime_checks = yes\nambiguous_mime_action = defer\n", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *data = read_fixture(cases[i].file, &len);
        char *config = config_with(cases[i].config);
        struct mt_result r;

        mt_run_data(config, data, len, &r);
        mt_expect(cases[i].file, "reply", cases[i].reply, r.verdict.reply);
        mt_expect(cases[i].file, "hold", cases[i].hold, r.verdict.hold);
        mt_result_free(&r);
        free(config);
        free(data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),   cmocka_unit_test(test_types),
        cmocka_unit_test(test_decoded), cmocka_unit_test(test_actions),
        cmocka_unit_test(test_limits),  cmocka_unit_test(test_strict_ambiguous),
        cmocka_unit_test(test_load),    cmocka_unit_test(test_changed),
        cmocka_unit_test(test_explain), cmocka_unit_test(test_fixtures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
