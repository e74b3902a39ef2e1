/*
 * params.h - every parameter scand knows, typed, with Postfix's names and
 * defaults where Postfix has the parameter (postconf(5)).
 *
 * Loading checks every value (sizes are byte counts, times take Postfix's
 * units s, m, h, d, w; a bare number is seconds) and reports the first
 * error as "FILE, line N: ...". An unknown parameter name is a warning
 * (logged with file and line), not an error.
 */
#ifndef SCAND_PARAMS_H
#define SCAND_PARAMS_H

#include <stddef.h>

#include "scand/config.h"

struct rules;
struct content_rules;
struct dns_config;
struct mime_rules;

struct scand_params {
    struct config *config;         /* the file as parsed; rules read their own names from it */
    char *config_path;             /* NULL: built-in defaults only */
    struct rules *rules;           /* restrictions compiled from the file (rules/rules.h) */
    struct content_rules *content; /* header/body checks (rules/content.h) */
    struct mime_rules *mime;       /* GMime attachment and decoded-body rules */

    /* scand's own */
    char *listen;      /* listen = 127.0.0.1:10025 ("host:port", "[v6]:port") */
    char *relay;       /* relay = 127.0.0.1:10026 */
    char *hold_relay;  /* hold_relay = 127.0.0.1:10027: a Postfix smtpd that holds all it gets */
    int process_limit; /* process_limit = 10 */
    int max_use;       /* max_use = 100 */
    char *user;        /* user = scand: started as root, run as this user (never root) */
    char *authorized_client_networks;      /* 127.0.0.0/8, [::1]/128: others get 554 at connect */
    char *smtpd_authorized_xforward_hosts; /* $authorized_client_networks: XFORWARD allowed */
    int drain_timeout; /* drain_timeout = 60s: SIGTERM/SIGHUP deadline for in-flight sessions */
    int worker_session_limit;     /* worker_session_limit = 100: sessions one worker multiplexes */
    size_t data_line_limit;       /* data_line_limit = 1048576: longest DATA line, else 552 */
    size_t command_line_limit;    /* command_line_limit = 2048: longest command line */
    int content_check_time_limit; /* 60s: a worker past it dies, Postfix retries */
    int content_check_attempt_limit; /* 3: interrupted checks before a message is held */
    char *state_directory;           /* /var/lib/scand: records of interrupted checks */
    char *dns_servers;               /* dns_servers = (empty: /etc/resolv.conf's) */
    int dns_query_timeout;           /* dns_query_timeout = 5s: one try at one server */
    int dns_query_attempts;          /* dns_query_attempts = 2: tries per server */
    size_t dns_cache_size;           /* dns_cache_size = 10000: answers cached (0: none) */
    int dns_message_time_limit;      /* dns_message_time_limit = 30s: DNS waits per transaction */

    /* Postfix's */
    char *myhostname;                     /* myhostname = localhost */
    size_t message_size_limit;            /* 10240000 */
    size_t smtpd_recipient_limit;         /* 1000 */
    int smtpd_timeout;                    /* 300s */
    size_t line_length_limit;             /* 2048 (content checks split longer lines, as Postfix) */
    int hopcount_limit;                   /* 50 */
    int smtp_connect_timeout;             /* 30s */
    int smtp_helo_timeout;                /* 300s */
    int smtp_xforward_timeout;            /* 300s */
    int smtp_mail_timeout;                /* 300s */
    int smtp_rcpt_timeout;                /* 300s */
    int smtp_data_init_timeout;           /* 120s */
    int smtp_data_xfer_timeout;           /* 180s */
    int smtp_data_done_timeout;           /* 600s */
    int smtp_rset_timeout;                /* 20s */
    int smtp_quit_timeout;                /* 300s */
    int smtp_connection_cache_time_limit; /* 2s: idle relay connections kept for reuse */
};

/* Load path (NULL: defaults only). On error returns -1 with "FILE, line N:
 * what" in err and leaves *params untouched. */
int params_load(const char *path, struct scand_params *params, char *err, size_t errlen);
void params_free(struct scand_params *params);

/* True when a table file named by the rules changed on disk since load. */
int params_tables_changed(const struct scand_params *params);

/* The resolver's settings (scand/dns.h) from the dns_* parameters; the
 * strings point into params. */
void params_dns_config(const struct scand_params *params, struct dns_config *config);

/* Parse "300", "300s", "5m", ... into seconds; -1 when malformed. */
int params_parse_time(const char *text);

#endif
