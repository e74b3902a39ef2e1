/* fuzz_table_regexp.c - the regexp: table parser and lookup (see fuzz_table.h). */
#include "fuzz_table.h"

/* glibc's regcomp() expands stacked repetition operators ("a+++...+")
 * exponentially: 30 of them take gigabytes at load. A table file is the
 * administrator's, and Postfix's regexp: tables (same regcomp) do the same,
 * so such inputs are skipped to let the fuzzer explore the table parser
 * instead of glibc (regress/ keeps none; see tests/fuzz/README.md). */
static int stacked_repetitions(const uint8_t *data, size_t size)
{
    size_t run = 0;

    for (size_t i = 0; i < size; i++) {
        run = (data[i] == '+' || data[i] == '*' || data[i] == '?' || data[i] == '}') ? run + 1 : 0;
        if (run > 6)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (stacked_repetitions(data, size))
        return 0;
    return fuzz_table_file("regexp", data, size);
}
