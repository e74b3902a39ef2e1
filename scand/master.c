/* master.c - see master.h */
#include "scand/master.h"
