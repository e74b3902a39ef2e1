/* smtp_client.c - see smtp_client.h */
#include "smtp/smtp_client.h"
