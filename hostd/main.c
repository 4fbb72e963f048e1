/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "control.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "macros.h"
#include "session.h"

static void help(void) {
        printf("Usage: hostd [OPTIONS]\n"
               "\n"
               "The job-slot daemon of a container build host: hands out per-job slots\n"
               "to a cluster controller and reclaims them completely.\n"
               "\n"
               "  --policy FILE              Policy file (drop-ins from FILE.d/*.conf);\n"
               "                             without it, the embedded default policy\n"
               "  --state-dir DIR            Overrides [State] Directory=\n"
               "  --listen ADDR:PORT         Overrides [Listen] Address= and Port=\n"
               "                             (IPv6 as [ADDR]:PORT)\n"
               "  --control-socket PATH      Overrides [Control] Socket=\n"
               "  --controller-keys FILE     Overrides [SSH] ControllerKeys=\n"
               "  --set SECTION.KEY=VALUE    Overrides any policy key (repeatable),\n"
               "                             e.g. --set Jobs.Slots=8\n"
               "  --log-target TARGET        auto (default), journal or stderr\n"
               "  --version                  Print the version and exit\n"
               "  --help                     Print this help and exit\n"
               "\n"
               "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the policy.\n"
               "Operators drive a running hostd with hostctl(8); see docs/policy.md.\n");
}

static int split_listen(char *arg, PolicyOverride *addr, PolicyOverride *port) {
        char *colon;

        if (arg[0] == '[') {
                char *end = strchr(arg, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                *end = 0;
                addr->value = arg + 1;
                port->value = end + 2;
                return 0;
        }
        colon = strrchr(arg, ':');
        if (!colon || strchr(arg, ':') != colon)
                return -EINVAL;
        *colon = 0;
        addr->value = arg;
        port->value = colon + 1;
        return 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_POLICY = 0x100, ARG_STATE_DIR, ARG_LISTEN, ARG_CONTROL_SOCKET, ARG_CONTROLLER_KEYS, ARG_SET,
               ARG_LOG_TARGET, ARG_VERSION };
        static const struct option options[] = {
                { "policy", required_argument, NULL, ARG_POLICY },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "control-socket", required_argument, NULL, ARG_CONTROL_SOCKET },
                { "controller-keys", required_argument, NULL, ARG_CONTROLLER_KEYS },
                { "set", required_argument, NULL, ARG_SET },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        /* Overrides live as long as the daemon: reloads re-apply them. */
        static PolicyOverride overrides[40];
        size_t n = 0;
        const char *policy = NULL;
        LogTarget target = LOG_TARGET_AUTO;
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_(control_freep) Control *control = NULL;
        _cleanup_(listener_freep) Listener *listener = NULL;
        int c, r;

        /* Each SSH connection runs this binary again as its session monitor. */
        if (argc > 0 && streq(argv[0], SESSION_ARGV0))
                return session_monitor_main();

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_POLICY:
                        policy = optarg;
                        break;
                case ARG_STATE_DIR:
                        overrides[n++] = (PolicyOverride) { "State", "Directory", optarg, "--state-dir" };
                        break;
                case ARG_LISTEN:
                        overrides[n] = (PolicyOverride) { "Listen", "Address", NULL, "--listen" };
                        overrides[n + 1] = (PolicyOverride) { "Listen", "Port", NULL, "--listen" };
                        if (split_listen(optarg, &overrides[n], &overrides[n + 1]) < 0) {
                                fprintf(stderr, "hostd: --listen '%s' is not ADDR:PORT; use e.g. 127.0.0.1:2222 or [::1]:2222\n", optarg);
                                return 2;
                        }
                        n += 2;
                        break;
                case ARG_CONTROL_SOCKET:
                        overrides[n++] = (PolicyOverride) { "Control", "Socket", optarg, "--control-socket" };
                        break;
                case ARG_CONTROLLER_KEYS:
                        overrides[n++] = (PolicyOverride) { "SSH", "ControllerKeys", optarg, "--controller-keys" };
                        break;
                case ARG_SET: {
                        /* SECTION.KEY=VALUE; the policy parser checks the rest. */
                        char *dot = strchr(optarg, '.'), *eq = strchr(optarg, '=');

                        if (!dot || !eq || dot > eq || dot == optarg || eq == dot + 1) {
                                fprintf(stderr, "hostd: --set '%s' is not SECTION.KEY=VALUE; e.g. --set Jobs.Slots=8\n", optarg);
                                return 2;
                        }
                        *dot = *eq = 0;
                        overrides[n++] = (PolicyOverride) { optarg, dot + 1, eq + 1, "--set" };
                        break;
                }
                case ARG_LOG_TARGET:
                        if (streq(optarg, "auto"))
                                target = LOG_TARGET_AUTO;
                        else if (streq(optarg, "journal"))
                                target = LOG_TARGET_JOURNAL;
                        else if (streq(optarg, "stderr"))
                                target = LOG_TARGET_STDERR;
                        else {
                                fprintf(stderr, "hostd: --log-target '%s' is not one of auto, journal, stderr\n", optarg);
                                return 2;
                        }
                        break;
                case ARG_VERSION:
                        printf("hostd %s\n", HOSTD_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        fprintf(stderr, "Try 'hostd --help'.\n");
                        return 2;
                }
                if (n > ELEMENTSOF(overrides) - 2) {
                        fprintf(stderr, "hostd: too many options\n");
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "hostd: unexpected argument '%s'; try 'hostd --help'\n", argv[optind]);
                return 2;
        }

        log_setup("hostd", target);

        if (geteuid() != 0) {
                log_error("hostd must run as root: it creates user namespaces, cgroups and mounts for jobs");
                return 1;
        }

        signal(SIGPIPE, SIG_IGN);

        /* The core first; then its front ends, the control socket and the
         * SSH listener, which are freed before it (reverse order). */
        r = daemon_new(policy, overrides, n, &d);
        if (r >= 0)
                r = control_new(d, d->policy->control_socket, d->policy->control_group, &control);
        if (r >= 0)
                r = listener_new(d, &listener);
        if (r >= 0)
                r = daemon_start(d);
        if (r == -ENOTRECOVERABLE)
                return EXIT_CONFIG;   /* hostd.service: RestartPreventExitStatus= */
        if (r < 0)
                return 1;
        r = daemon_run(d);
        /* Release waiters are answered through the front ends. */
        daemon_shutdown(d);
        log_info("hostd stopped");
        return r < 0 ? 1 : 0;
}
