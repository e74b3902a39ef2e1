/* smtp_data_out.c - see smtp_data_out.h */
#include "smtp/smtp_data_out.h"
