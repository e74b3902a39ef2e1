/* rules.c - see rules.h. PLACEHOLDER so the daemon links while the engine
 * is written: it compiles nothing and accepts everything. */
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"
#include "util/xalloc.h"

const struct rules_param rules_params[] = {
    {NULL, NULL},
};

struct rules {
    int empty;
};

struct rules *rules_load(const struct rules_source *source, char *err, size_t errlen)
{
    (void)source;
    (void)err;
    (void)errlen;
    struct rules *rules = xcalloc(1, sizeof(*rules));
    rules->empty = 1;
    return rules;
}

void rules_free(struct rules *rules)
{
    free(rules);
}

int rules_changed(const struct rules *rules)
{
    (void)rules;
    return 0;
}

int rules_empty(const struct rules *rules)
{
    return rules->empty;
}

void rules_tx_init(struct rules_tx *tx)
{
    memset(tx, 0, sizeof(*tx));
}

void rules_check(struct rules *rules, enum rules_stage stage, const struct rules_query *query,
                 struct rules_tx *tx, struct rules_verdict *verdict,
                 const struct rules_explain *explain)
{
    (void)rules;
    (void)stage;
    (void)query;
    (void)tx;
    (void)explain;
    memset(verdict, 0, sizeof(*verdict));
}

void rules_verdict_free(struct rules_verdict *verdict)
{
    memset(verdict, 0, sizeof(*verdict));
}
