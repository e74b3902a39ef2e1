/* msg.c - logging to syslog or stderr (see msg.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/msg.h"

/* Process-wide log sink: set once at startup by main, like Postfix's msg_vstream. */
static const char *msg_ident = "scand";
static int msg_to_stderr = 1;
static int msg_verbose_level;

void msg_open(const char *ident, int use_stderr)
{
    msg_ident = ident;
    msg_to_stderr = use_stderr;
    if (!use_stderr)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void msg_reopen(void)
{
    if (!msg_to_stderr) {
        closelog();
        openlog(msg_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
}

void msg_set_verbose(int verbose)
{
    msg_verbose_level = verbose;
}

int msg_verbose(void)
{
    return msg_verbose_level;
}

/* Log lines carry values from the wire (addresses, XFORWARD values, reply
 * texts). A CR or LF in them would start a forged line of its own in a log
 * file, and an ESC would talk to the admin's terminal: every control
 * character becomes '?', here, once for every caller (Postfix's
 * printable()). Bytes from 0x80 up stay: UTF-8 addresses are legitimate. */
static void msg_sanitize(char *text)
{
    for (unsigned char *cp = (unsigned char *)text; *cp; cp++)
        if (*cp < 0x20 || *cp == 0x7f)
            *cp = '?';
}

static void msg_vlog(int priority, const char *label, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char text[4096];

    vsnprintf(text, sizeof(text), fmt, ap);
    msg_sanitize(text);
    if (msg_to_stderr) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        fprintf(stderr, "%s %s[%ld]: %s%s\n", stamp, msg_ident, (long)getpid(), label, text);
        fflush(stderr);
    } else {
        syslog(priority, "%s%s", label, text);
    }
    errno = saved_errno;
}

void msg_debug(const char *fmt, ...)
{
    va_list ap;
    if (!msg_verbose_level)
        return;
    va_start(ap, fmt);
    msg_vlog(LOG_DEBUG, "", fmt, ap);
    va_end(ap);
}

void msg_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_WARNING, "warning: ", fmt, ap);
    va_end(ap);
}

void msg_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_ERR, "error: ", fmt, ap);
    va_end(ap);
}

void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_CRIT, "fatal: ", fmt, ap);
    va_end(ap);
    exit(1);
}

void msg_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_CRIT, "panic: ", fmt, ap);
    va_end(ap);
    abort();
}
