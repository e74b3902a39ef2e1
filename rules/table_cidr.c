/* table_cidr.c - cidr: tables (being written). */
#include <stdio.h>

#include "rules/table_internal.h"

int table_open_cidr(struct table *table, const char *name, char *err, size_t errlen)
{
    (void)name;
    snprintf(err, errlen, "unsupported table type: %s", table->spec);
    return -1;
}
