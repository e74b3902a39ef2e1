/* fuzz_table_pcre.c - the pcre: table parser and lookup (see fuzz_table.h). */
#include "fuzz_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_table_file("pcre", data, size);
}
