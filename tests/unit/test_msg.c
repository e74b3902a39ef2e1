/* test_msg.c - log lines never carry control characters from the wire
 * (util/msg.h): CR, LF, ESC, NUL-free C0 controls and DEL become '?'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/msg.h"

/* What msg_info wrote on stderr for text, without the stamp and ident. */
static void logged(const char *text, char *out, size_t outlen)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char line[512] = "";
    const char *body;

    assert_non_null(tmp);
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    msg_info("from=<%s>", text);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    assert_non_null(fgets(line, sizeof(line), tmp));
    /* Exactly one line: a CR/LF in text must not have started another. */
    char extra[64];
    assert_null(fgets(extra, sizeof(extra), tmp));
    fclose(tmp);
    line[strcspn(line, "\n")] = '\0';
    body = strstr(line, "]: ");
    assert_non_null(body);
    snprintf(out, outlen, "%s", body + 3);
}

static void test_sanitized(void **state)
{
    (void)state;
    static const struct {
        const char *label;
        const char *text;
        const char *want;
    } cases[] = {
        {"plain", "a@example.org", "from=<a@example.org>"},
        {"CRLF injection", "a\r\nX-Injected: b", "from=<a??X-Injected: b>"},
        {"LF alone", "a\nscand[1]: reject: forged", "from=<a?scand[1]: reject: forged>"},
        {"ESC sequence", "a\x1b[31mred", "from=<a?[31mred>"},
        {"TAB and ^A", "a\tb\x01", "from=<a?b?>"},
        {"DEL", "a\x7f", "from=<a?>"},
        {"UTF-8 kept", "j\xc3\xb6rg@example.org", "from=<j\xc3\xb6rg@example.org>"},
        {"8-bit bytes kept", "\xff\xfe", "from=<\xff\xfe>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[512];

        logged(cases[i].text, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].label, got, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitized),
    };
    msg_open("test_msg", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
