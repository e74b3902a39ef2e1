/*
 * main.c - scand [-c FILE] [-F] [-v]: options, configuration, the
 * listening socket, privileges, then the master. With -t, test mode
 * (testmode.h) instead: no socket, no master, one envelope on the terminal.
 *
 * Order matters: the configuration is checked and the socket bound while
 * still attached to the terminal and still privileged, so every startup
 * error reaches the admin who typed the command, and a port below 1024
 * can be bound before the user is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include "scand/listen.h"
#include "scand/master.h"
#include "scand/params.h"
#include "scand/testmode.h"
#include "util/msg.h"

#define SCAND_DEFAULT_CONFIG "/etc/scand/scand.conf"

struct main_options {
    const char *config; /* NULL: built-in defaults */
    int foreground;
    int verbose;
    int test;                      /* -t */
    struct testmode_options tmode; /* -t's envelope */
};

static void main_usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-c config_file] [-F] [-v]\n"
            "       %s [-c config_file] -t [--client-name NAME] [--client-addr ADDR]\n"
            "             [--helo NAME] [--protocol ESMTP] [--explain] [--print-message] -f SENDER "
            "-- RCPT... "
            "< message\n",
            argv0, argv0);
    exit(EX_USAGE);
}

enum main_long_option {
    OPT_CLIENT_NAME = 256,
    OPT_CLIENT_ADDR,
    OPT_HELO,
    OPT_PROTOCOL,
    OPT_EXPLAIN,
    OPT_PRINT_MESSAGE,
};

static const struct option main_long_options[] = {
    {"client-name", required_argument, NULL, OPT_CLIENT_NAME},
    {"client-addr", required_argument, NULL, OPT_CLIENT_ADDR},
    {"helo", required_argument, NULL, OPT_HELO},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"explain", no_argument, NULL, OPT_EXPLAIN},
    {"print-message", no_argument, NULL, OPT_PRINT_MESSAGE},
    {NULL, 0, NULL, 0},
};

/* Test-mode options only; 0 when ch is not one of them. */
static int main_test_option(int ch, struct main_options *opts)
{
    switch (ch) {
    case 'f':
        opts->tmode.sender = optarg;
        return 1;
    case OPT_CLIENT_NAME:
        opts->tmode.client_name = optarg;
        return 1;
    case OPT_CLIENT_ADDR:
        opts->tmode.client_addr = optarg;
        return 1;
    case OPT_HELO:
        opts->tmode.helo = optarg;
        return 1;
    case OPT_PROTOCOL:
        opts->tmode.protocol = optarg;
        return 1;
    case OPT_EXPLAIN:
        opts->tmode.explain = 1;
        return 1;
    case OPT_PRINT_MESSAGE:
        opts->tmode.print_message = 1;
        return 1;
    default:
        return 0;
    }
}

/* Test-mode flags without -t, or -t without a sender or recipients, are
 * usage errors: a daemon started by mistake is worse than a refusal. */
static void main_check_test_options(int argc, char **argv, struct main_options *opts)
{
    const struct testmode_options *t = &opts->tmode;
    int test_flags = t->sender || t->client_name || t->client_addr || t->helo || t->protocol ||
                     t->explain || t->print_message;

    if (!opts->test) {
        if (test_flags || optind != argc)
            main_usage(argv[0]);
        return;
    }
    if (t->sender == NULL || optind == argc)
        main_usage(argv[0]);
    opts->tmode.rcpts = argv + optind;
    opts->tmode.rcpt_count = (size_t)(argc - optind);
}

static void main_options(int argc, char **argv, struct main_options *opts)
{
    int ch;

    memset(opts, 0, sizeof(*opts));
    while ((ch = getopt_long(argc, argv, "c:Ftvf:", main_long_options, NULL)) != -1) {
        if (main_test_option(ch, opts))
            continue;
        switch (ch) {
        case 'c':
            opts->config = optarg;
            break;
        case 'F':
            opts->foreground = 1;
            break;
        case 't':
            opts->test = 1;
            break;
        case 'v':
            opts->verbose++;
            break;
        default:
            main_usage(argv[0]);
        }
    }
    main_check_test_options(argc, argv, opts);
    if (opts->config == NULL && access(SCAND_DEFAULT_CONFIG, F_OK) == 0)
        opts->config = SCAND_DEFAULT_CONFIG;
}

/* The master chdirs to / when it daemonizes; SIGHUP must still find the
 * file, so keep an absolute name. */
static char *main_config_path(const char *config)
{
    char *path;

    if (config == NULL)
        return NULL;
    path = realpath(config, NULL);
    if (path == NULL)
        path = strdup(config); /* params_load reports why it cannot be read */
    if (path == NULL)
        msg_fatal("out of memory");
    return path;
}

/* Workers parse what the network sends: they never run as root. Started
 * as root, scand switches to `user` (default "scand") once the socket is
 * bound, and refuses to start when that user is missing, is root, or the
 * switch fails. Started as another user (systemd's User=scand), there is
 * nothing to switch and `user` is not consulted. */
static void main_drop_privileges(const char *user)
{
    struct passwd *pw;

    if (getuid() != 0 && geteuid() != 0)
        return;
    if (user[0] == '\0')
        msg_fatal("started as root with an empty \"user\" parameter: "
                  "refusing to run as root (set user = scand and create that user)");
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL)
        msg_fatal("user %s: %s (create it: useradd --system --no-create-home "
                  "--shell /usr/sbin/nologin %s)",
                  user, errno ? strerror(errno) : "no such user", user);
    if (pw->pw_uid == 0)
        msg_fatal("user %s has uid 0: refusing to run as root", user);
    /* Groups first: after setuid() we could no longer change them. */
    if (initgroups(pw->pw_name, pw->pw_gid) < 0)
        msg_fatal("initgroups %s: %s", user, strerror(errno));
    if (setgid(pw->pw_gid) < 0)
        msg_fatal("setgid %ld: %s", (long)pw->pw_gid, strerror(errno));
    if (setuid(pw->pw_uid) < 0)
        msg_fatal("setuid %ld: %s", (long)pw->pw_uid, strerror(errno));
    if (setuid(0) == 0 || seteuid(0) == 0)
        msg_fatal("setuid: could regain root after dropping to %s", user);
    msg_info("running as user %s", user);
}

/* The records of interrupted content checks (attempts.h) need a directory
 * the workers can write; made here while still privileged. Without it scand
 * still runs, but a message that keeps killing workers is not recognised.
 * The records name messages by queue id and digest: the directory is 0700
 * and owned by `user`, whatever it was before (an existing directory is
 * fixed, not trusted), and never followed through a symbolic link. */
static void main_state_directory(const char *dir, const char *user)
{
    struct passwd *pw;
    int fd;

    if (dir[0] == '\0')
        return;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        msg_warn("state_directory %s: %s; interrupted content checks will not be counted", dir,
                 strerror(errno));
        return;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        msg_warn("state_directory %s: %s; interrupted content checks will not be counted", dir,
                 strerror(errno));
        return;
    }
    if (getuid() == 0 && user[0] != '\0' && (pw = getpwnam(user)) != NULL &&
        fchown(fd, pw->pw_uid, pw->pw_gid) < 0)
        msg_warn("state_directory %s: chown %s: %s", dir, user, strerror(errno));
    if (fchmod(fd, 0700) < 0)
        msg_warn("state_directory %s: chmod 0700: %s", dir, strerror(errno));
    close(fd);
}

static void main_daemonize(void)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        msg_fatal("setsid: %s", strerror(errno));
    if (chdir("/") < 0)
        msg_fatal("chdir /: %s", strerror(errno));
    fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        msg_fatal("open /dev/null: %s", strerror(errno));
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
    msg_open("scand", 0);
}

/* scand -t: a configuration error is EX_CONFIG, as the admin checking a
 * rule before deploying it needs to tell it from a rejection. */
static int main_test(char *path, const struct testmode_options *tmode)
{
    struct scand_params params;
    char err[1024];
    int status;

    if (params_load(path, &params, err, sizeof(err)) < 0) {
        fprintf(stderr, "scand: %s\n", err);
        free(path);
        return EX_CONFIG;
    }
    free(path);
    status = testmode_run(&params, tmode, stdin, stdout, stderr);
    params_free(&params);
    return status;
}

int main(int argc, char **argv)
{
    struct main_options opts;
    struct scand_params params;
    char err[1024];
    char *path;
    int listen_fd, status;

    msg_open("scand", 1);
    main_options(argc, argv, &opts);
    msg_set_verbose(opts.verbose);

    path = main_config_path(opts.config);
    if (opts.test)
        return main_test(path, &opts.tmode);
    if (params_load(path, &params, err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    free(path);
    listen_fd = listen_bind(params.listen, err, sizeof(err));
    if (listen_fd < 0)
        msg_fatal("cannot listen: %s", err);
    main_state_directory(params.state_directory, params.user);
    main_drop_privileges(params.user);
    /* A peer that closes while we write is an error to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);
    if (!opts.foreground)
        main_daemonize();
    status = master_run(&params, listen_fd);
    params_free(&params); /* so LeakSanitizer sees only real leaks at exit */
    return status;
}
