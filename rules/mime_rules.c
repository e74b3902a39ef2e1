/* mime_rules.c - see mime_rules.h. PLACEHOLDER until the MIME rules land. */
#include <stdlib.h>
#include <string.h>

#include "rules/mime_rules.h"
#include "util/xalloc.h"

const struct rules_param mime_rules_params[] = {
    {NULL, NULL},
};

struct mime_rules {
    int empty;
};

void mime_rules_process_init(void)
{
}

struct mime_rules *mime_rules_load(const struct rules_source *source, char *err, size_t errlen)
{
    (void)source;
    (void)err;
    (void)errlen;
    struct mime_rules *rules = xcalloc(1, sizeof(*rules));
    rules->empty = 1;
    return rules;
}

void mime_rules_free(struct mime_rules *rules)
{
    free(rules);
}

int mime_rules_empty(const struct mime_rules *rules)
{
    return rules->empty;
}

int mime_rules_changed(const struct mime_rules *rules)
{
    (void)rules;
    return 0;
}

void mime_rules_check(struct mime_rules *rules, const char *data, size_t len,
                      struct rules_verdict *verdict, const struct rules_explain *explain)
{
    (void)rules;
    (void)data;
    (void)len;
    (void)explain;
    memset(verdict, 0, sizeof(*verdict));
}
