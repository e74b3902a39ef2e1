/* smtp_reply.c - see smtp_reply.h */
#include "smtp/smtp_reply.h"
