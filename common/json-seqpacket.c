/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-seqpacket.h"

#include <sys/socket.h>

#include "macros.h"

int json_seqpacket_send(int sock, json_object *o, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * JSON_SEQPACKET_FDS_MAX)];
        } control = {};
        struct msghdr mh = {};
        struct iovec iov;
        const char *text;
        size_t len;

        if (n_fds > JSON_SEQPACKET_FDS_MAX)
                return -EINVAL;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if (len > JSON_SEQPACKET_MAX)
                return -EMSGSIZE;
        iov = (struct iovec) { (void *) text, len };
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (n_fds > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        for (;;) {
                ssize_t k = sendmsg(sock, &mh, MSG_NOSIGNAL);
                if (k >= 0)
                        return (size_t) k == len ? 0 : -EIO;
                if (errno != EINTR)
                        return negative_errno();
        }
}

int json_seqpacket_parse(const char *buf, size_t size, json_object **ret) {
        const char *error;
        int r;

        if (size > JSON_SEQPACKET_MAX)
                return -EBADMSG;
        /* Not JSON_PARSE_STRICT: the protocol has always taken json-c's default syntax. */
        r = json_parse_buffer(buf, size, 16, JSON_PARSE_REFUSE_NUL | JSON_PARSE_OBJECT, ret, &error);
        return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

int json_seqpacket_recv(int sock, json_object **ret, int *ret_fds, size_t *ret_n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * JSON_SEQPACKET_FDS_MAX)];
        } control = {};
        _cleanup_free_ char *buf = NULL;
        struct msghdr mh = {};
        struct iovec iov;
        int fds[JSON_SEQPACKET_FDS_MAX];
        size_t n_fds = 0;
        json_object *o = NULL;
        ssize_t k;
        int r = 0;

        buf = malloc(JSON_SEQPACKET_MAX + 1);
        if (!buf)
                return -ENOMEM;
        iov = (struct iovec) { buf, JSON_SEQPACKET_MAX + 1 };
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);
        do
                k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int *p = (int *) CMSG_DATA(c);
                        for (size_t i = 0; i < n; i++) {
                                if (n_fds < JSON_SEQPACKET_FDS_MAX)
                                        fds[n_fds++] = p[i];
                                else {
                                        close(p[i]);
                                        r = -EBADMSG;
                                }
                        }
                }
        if (k == 0 && n_fds == 0)
                return -ECONNRESET;
        if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t) k > JSON_SEQPACKET_MAX)
                r = -EBADMSG;
        if (r >= 0)
                r = json_seqpacket_parse(buf, (size_t) k, &o);
        if (r < 0 || (!ret_fds && n_fds > 0)) {
                for (size_t i = 0; i < n_fds; i++)
                        close(fds[i]);
                if (r < 0)
                        return r;
                n_fds = 0;
        }
        if (ret_fds) {
                memcpy(ret_fds, fds, n_fds * sizeof(int));
                *ret_n_fds = n_fds;
        }
        *ret = o;
        return 0;
}
