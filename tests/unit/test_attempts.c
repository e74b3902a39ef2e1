/* test_attempts.c - interrupted content checks counted on disk
 * (scand/attempts.h): the same queue id and content is the same record,
 * anything else a new one, and a finished check leaves nothing behind. */
#include <dirent.h>
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

#include "scand/attempts.h"

static int setup(void **state)
{
    static char dir[] = "/tmp/test_attempts_XXXXXX";
    strcpy(dir, "/tmp/test_attempts_XXXXXX");
    assert_non_null(mkdtemp(dir));
    *state = dir;
    return 0;
}

/* The records in dir; with unlink_them, removed as they are counted. */
static int records_in(const char *dir, int unlink_them)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink_them)
            unlink(path);
    }
    closedir(d);
    return n;
}

static int files_in(const char *dir)
{
    return records_in(dir, 0);
}

static int teardown(void **state)
{
    records_in(*state, 1);
    return rmdir(*state);
}

static void test_interrupted_attempts_counted(void **state)
{
    const char *dir = *state;
    const char msg[] = "Subject: x\r\n\r\nbody\r\n";
    struct attempt a1, a2, a3;

    /* a worker killed during the check leaves its record: each return
     * of the same message counts one more */
    assert_int_equal(attempts_begin(dir, "4ABC123", msg, sizeof(msg) - 1, &a1), 0);
    assert_int_equal(attempts_begin(dir, "4ABC123", msg, sizeof(msg) - 1, &a2), 1);
    assert_int_equal(attempts_begin(dir, "4ABC123", msg, sizeof(msg) - 1, &a3), 2);
    assert_string_equal(a1.path, a3.path);
    assert_int_equal(files_in(dir), 1);

    struct stat st;
    assert_int_equal(stat(a1.path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    attempts_end(&a3);
    assert_int_equal(files_in(dir), 0);
    assert_string_equal(a3.path, "");
    assert_int_equal(attempts_begin(dir, "4ABC123", msg, sizeof(msg) - 1, &a1), 0);
    attempts_end(&a1);
}

static void test_other_messages_are_new(void **state)
{
    const char *dir = *state;
    /* content differing in one byte, in length only, at the end of a
     * 16-byte block, or only in the queue id: each its own record */
    static const char *const bodies[] = {
        "0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdeF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef\0",
        "",
    };
    static const size_t lens[] = {32, 32, 31, 33, 0};
    struct attempt a[8];
    size_t n = sizeof(lens) / sizeof(lens[0]);

    for (size_t i = 0; i < n; i++)
        assert_int_equal(attempts_begin(dir, "Q1", bodies[i], lens[i], &a[i]), 0);
    assert_int_equal(attempts_begin(dir, "Q2", bodies[0], lens[0], &a[n]), 0);
    assert_int_equal(attempts_begin(dir, "", bodies[0], lens[0], &a[n + 1]), 0);
    /* an empty message may come without a buffer */
    assert_int_equal(attempts_begin(dir, "Q3", NULL, 0, &a[n + 2]), 0);
    assert_int_equal(files_in(dir), (int)n + 3);
    for (size_t i = 0; i < n + 3; i++)
        attempts_end(&a[i]);
    assert_int_equal(files_in(dir), 0);
}

static void test_off_without_state_dir(void **state)
{
    (void)state;
    struct attempt a;
    assert_int_equal(attempts_begin(NULL, "Q", "x", 1, &a), 0);
    assert_string_equal(a.path, "");
    assert_int_equal(attempts_begin("", "Q", "x", 1, &a), 0);
    attempts_end(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_interrupted_attempts_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_messages_are_new, setup, teardown),
        cmocka_unit_test(test_off_without_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
