/* table_regex.c - pcre: and regexp: tables (being written). */
#include <stdio.h>

#include "rules/table_internal.h"

int table_open_pcre(struct table *table, const char *name, char *err, size_t errlen)
{
    (void)name;
    snprintf(err, errlen, "unsupported table type: %s", table->spec);
    return -1;
}

int table_open_regexp(struct table *table, const char *name, char *err, size_t errlen)
{
    (void)name;
    snprintf(err, errlen, "unsupported table type: %s", table->spec);
    return -1;
}
