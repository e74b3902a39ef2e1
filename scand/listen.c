/* listen.c - see listen.h (placeholder, being implemented) */
#include "scand/listen.h"
