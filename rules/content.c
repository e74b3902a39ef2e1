/* content.c - see content.h. PLACEHOLDER until the content checks land:
 * no tables, nothing checked. */
#include <stdlib.h>
#include <string.h>

#include "rules/content.h"
#include "util/xalloc.h"

const struct rules_param content_params[] = {
    {NULL, NULL},
};

struct content_rules {
    int empty;
};

struct content_rules *content_rules_load(const struct rules_source *source, char *err,
                                         size_t errlen)
{
    (void)source;
    (void)err;
    (void)errlen;
    struct content_rules *rules = xcalloc(1, sizeof(*rules));
    rules->empty = 1;
    return rules;
}

void content_rules_free(struct content_rules *rules)
{
    free(rules);
}

int content_rules_empty(const struct content_rules *rules)
{
    return rules->empty;
}

int content_rules_changed(const struct content_rules *rules)
{
    (void)rules;
    return 0;
}

void content_check(struct content_rules *rules, const char *data, size_t len,
                   struct rules_verdict *verdict, char **rewritten, size_t *rewritten_len,
                   const struct rules_explain *explain)
{
    (void)rules;
    (void)data;
    (void)len;
    (void)explain;
    memset(verdict, 0, sizeof(*verdict));
    *rewritten = NULL;
    *rewritten_len = 0;
}
