/* params.c - see params.h */
#include "scand/params.h"
