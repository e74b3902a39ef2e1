/*
 * table_ifs.c - the IF/ENDIF blocks of the pattern tables (cidr, pcre,
 * regexp): each IF paired with its ENDIF at load time, so that a lookup
 * whose IF does not match jumps past the block instead of searching for
 * its end (see table_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "rules/table_internal.h"
#include "util/xalloc.h"

int table_link_ifs(const char *path, size_t count, table_if_op_fn op, void *rules,
                   const char *endif_without_if, char *err, size_t errlen)
{
    size_t *open = xmalloc((count + 1) * sizeof(*open));
    size_t depth = 0;
    int status = 0;

    for (size_t i = 0; i < count && status == 0; i++) {
        int line;
        size_t *skip_to;
        int kind = op(rules, i, &line, &skip_to);

        if (kind > 0) {
            open[depth++] = i;
        } else if (kind < 0 && depth == 0) {
            snprintf(err, errlen, "%s, line %d: %s", path, line, endif_without_if);
            status = -1;
        } else if (kind < 0) {
            op(rules, open[--depth], &line, &skip_to);
            *skip_to = i + 1;
        }
    }
    if (status == 0 && depth > 0) {
        int line;
        size_t *skip_to;

        op(rules, open[depth - 1], &line, &skip_to);
        snprintf(err, errlen, "%s, line %d: IF has no matching ENDIF", path, line);
        status = -1;
    }
    free(open);
    return status;
}
