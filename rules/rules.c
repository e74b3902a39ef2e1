/* rules.c - see rules.h (being written) */
#include <stddef.h>

#include "rules/rules.h"

const struct rules_param rules_params[] = {
    {NULL, NULL},
};
