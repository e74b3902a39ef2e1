/* smtp_server.c - see smtp_server.h */
#include "smtp/smtp_server.h"
