/* fuzz_table_inline.c - inline:{...} specs and lookup (see fuzz_table.h). */
#include "fuzz_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_table_inline(data, size);
}
