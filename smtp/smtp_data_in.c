/* smtp_data_in.c - see smtp_data_in.h */
#include "smtp/smtp_data_in.h"
