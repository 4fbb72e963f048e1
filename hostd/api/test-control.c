/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control socket over a real unix socket: a good request, malformed
 * JSON, an oversized request, a slow client, and a peer that is neither
 * root nor in the control group. */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "control.h"
#include "log.h"
#include "rm-rf.h"
#include "test-daemon.h"
#include "test-util.h"

static char dir[] = "/tmp/test-control-XXXXXX";
static char sock[100];

/* Client side, run in a child: sends data, writes the answer to fd out. */
static void client(const char *data, size_t len, uid_t uid, int out) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[65536];
        size_t n = 0;
        int fd;

        if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
                _exit(10);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                _exit(11);
        for (size_t off = 0; off < len;) {
                ssize_t k = send(fd, data + off, len - off, MSG_NOSIGNAL);
                if (k <= 0)
                        break;   /* the server may answer and close early */
                off += (size_t) k;
        }
        shutdown(fd, SHUT_WR);
        for (;;) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        (void) !write(out, buf, n);
        _exit(0);
}

/* Runs one exchange while the daemon's loop serves it. */
static char *exchange(Daemon *d, const char *data, size_t len, uid_t uid) {
        static char answer[65536];
        int p[2], status;
        pid_t pid;
        ssize_t n;

        if (pipe(p) < 0)
                return NULL;
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                client(data, len, uid, p[1]);
        }
        close(p[1]);
        while (waitpid(pid, &status, WNOHANG) == 0)
                sd_event_run(d->event, 50 * USEC_PER_MSEC);
        n = read(p[0], answer, sizeof(answer) - 1);
        close(p[0]);
        answer[n > 0 ? n : 0] = 0;
        return answer;
}

static void test_parse(void) {
        char **argv = NULL;
        size_t argc = 0;
        json_object *err = NULL;
        const char *ok = "{\"apiVersion\":\"hostd/v1\",\"argv\":[\"job\",\"j0123456789ab\"]}";

        CHECK(control_parse_request(ok, strlen(ok), &argv, &argc, &err) == 0);
        CHECK(argc == 2 && streq(argv[1], "j0123456789ab"));
        strv_free(argv);

#define BAD(text)                                                                                  \
        do {                                                                                       \
                err = NULL;                                                                        \
                CHECK_MSG(control_parse_request(text, sizeof(text) - 1, &argv, &argc, &err) < 0 && err, \
                          "accepted %s", text);                                                    \
                json_object_put(err);                                                              \
        } while (0)
        BAD("{");
        BAD("[]");
        BAD("{\"argv\":\"capacity\"}");
        BAD("{\"argv\":[1]}");
        BAD("{\"apiVersion\":\"hostd/v2\",\"argv\":[\"capacity\"]}");
        BAD("{\"argv\":[\"capacity\"]} {\"argv\":[\"capacity\"]}");
        BAD("{\"argv\":[\"a\\u0000b\"]}");
        BAD("{'argv':['capacity']}");
        BAD("null");
        BAD("{\"argv\":[\"capacity\"]}\n\0");
#undef BAD

}

int main(void) {
        _cleanup_(daemon_freep) Daemon *d = NULL;
        Control *control = NULL;
        const char *req = "{\"apiVersion\":\"hostd/v1\",\"argv\":[\"capacity\"]}\n";
        char *a, *big;

        if (test_daemon_process("test-control", LOG_ERR, dir) < 0)
                return 1;
        signal(SIGPIPE, SIG_IGN);
        snprintf(sock, sizeof(sock), "%s/control.sock", dir);
        if (test_daemon_new(dir, &d) < 0 ||
            control_new(d, d->policy->control_socket, d->policy->control_group, &control) < 0)
                return 1;

        test_parse();

        a = exchange(d, req, strlen(req), 0);
        CHECK_STR_CONTAINS(a, "\"slots\"");
        CHECK_STR_CONTAINS(a, "\"apiVersion\":\"hostd/v1\"");

        a = exchange(d, "this is not json\n", 17, 0);
        CHECK_STR_CONTAINS(a, "\"bad-request\"");
        CHECK_STR_CONTAINS(a, "not valid JSON");

        big = malloc(CONTROL_REQUEST_MAX * 2);
        memset(big, ' ', CONTROL_REQUEST_MAX * 2);
        memcpy(big, "{\"argv\":[\"", 10);
        a = exchange(d, big, CONTROL_REQUEST_MAX * 2, 0);
        CHECK_STR_CONTAINS(a, "\"bad-request\"");
        CHECK_STR_CONTAINS(a, "larger than");
        free(big);

        /* The socket is root-only (0600): nobody cannot even connect. */
        {
                struct stat st;
                CHECK(stat(sock, &st) == 0 && (st.st_mode & 0077) == 0);
        }
        a = exchange(d, req, strlen(req), 65534);
        CHECK(streq(a, ""));

        /* Even if the mode were loosened, the peer check refuses nobody with a
         * clear message, and the daemon keeps serving. */
        CHECK(chmod(sock, 0666) == 0);
        a = exchange(d, req, strlen(req), 65534);
        CHECK_STR_CONTAINS(a, "\"forbidden\"");
        CHECK_STR_CONTAINS(a, "uid 65534");
        a = exchange(d, req, strlen(req), 0);
        CHECK_STR_CONTAINS(a, "\"slots\"");

        control = control_free(control);
        d = daemon_free(d);
        {
                struct stat st;
                CHECK(stat(sock, &st) < 0);   /* removed on exit */
        }
        CHECK(rm_rf_path(dir) == 0);
        return test_summary("test-control");
}
