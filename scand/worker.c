/* worker.c - see worker.h */
#include "scand/worker.h"
