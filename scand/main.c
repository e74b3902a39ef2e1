/*
 * main.c - scand [-c FILE] [-F] [-v]: options, configuration, the
 * listening socket, privileges, then the master.
 *
 * Order matters: the configuration is checked and the socket bound while
 * still attached to the terminal and still privileged, so every startup
 * error reaches the admin who typed the command, and a port below 1024
 * can be bound before the user is dropped.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "util/msg.h"

#define SCAND_DEFAULT_CONFIG "/etc/scand/scand.conf"

struct main_options {
    const char *config; /* NULL: built-in defaults */
    int foreground;
    int verbose;
};

static void main_usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-c config_file] [-F] [-v]\n", argv0);
    exit(EX_USAGE);
}

static void main_options(int argc, char **argv, struct main_options *opts)
{
    int ch;

    memset(opts, 0, sizeof(*opts));
    while ((ch = getopt(argc, argv, "c:Ftv")) != -1) {
        switch (ch) {
        case 'c':
            opts->config = optarg;
            break;
        case 'F':
            opts->foreground = 1;
            break;
        case 't':
            /* Reserved for test mode (design.md); refuse rather than run a
             * daemon that the caller believes is a dry run. */
            fprintf(stderr, "scand: test mode (-t) is not implemented yet\n");
            exit(EX_USAGE);
        case 'v':
            opts->verbose++;
            break;
        default:
            main_usage(argv[0]);
        }
    }
    if (optind != argc)
        main_usage(argv[0]);
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

static void main_drop_privileges(const char *user)
{
    struct passwd *pw;

    if (getuid() != 0 || user[0] == '\0')
        return;
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL)
        msg_fatal("user %s: %s", user, errno ? strerror(errno) : "unknown user");
    /* Groups first: after setuid() we could no longer change them. */
    if (initgroups(pw->pw_name, pw->pw_gid) < 0)
        msg_fatal("initgroups %s: %s", user, strerror(errno));
    if (setgid(pw->pw_gid) < 0)
        msg_fatal("setgid %ld: %s", (long)pw->pw_gid, strerror(errno));
    if (setuid(pw->pw_uid) < 0)
        msg_fatal("setuid %ld: %s", (long)pw->pw_uid, strerror(errno));
    if (setuid(0) == 0)
        msg_fatal("setuid: could regain root after dropping to %s", user);
    msg_info("running as user %s", user);
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

int main(int argc, char **argv)
{
    struct main_options opts;
    struct scand_params params;
    char err[1024];
    char *path;
    int listen_fd;

    msg_open("scand", 1);
    main_options(argc, argv, &opts);
    msg_set_verbose(opts.verbose);

    path = main_config_path(opts.config);
    if (params_load(path, &params, err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    free(path);
    listen_fd = listen_bind(params.listen, err, sizeof(err));
    if (listen_fd < 0)
        msg_fatal("cannot listen: %s", err);
    main_drop_privileges(params.user);
    /* A peer that closes while we write is an error to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);
    if (!opts.foreground)
        main_daemonize();
    return master_run(&params, listen_fd);
}
