/* table.c - see table.h */
#include "rules/table.h"
