/* smtp_xtext.c - see smtp_xtext.h */
#include "smtp/smtp_xtext.h"
