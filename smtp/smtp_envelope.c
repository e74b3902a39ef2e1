/* smtp_envelope.c - see smtp_envelope.h */
#include "smtp/smtp_envelope.h"
