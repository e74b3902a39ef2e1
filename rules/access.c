/* access.c - see access.h */
#include "rules/access.h"
