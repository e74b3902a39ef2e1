/* fuzz_table_regexp.c - the regexp: table parser and lookup (see fuzz_table.h). */
#include "fuzz_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_table_file("regexp", data, size);
}
