/* config.c - see config.h */
#include "scand/config.h"
