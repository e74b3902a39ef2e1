/* fuzz_table_texthash.c - the texthash: table parser and lookup (see fuzz_table.h). */
#include "fuzz_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_table_file("texthash", data, size);
}
