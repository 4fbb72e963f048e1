/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "proc-util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "macros.h"

int proc_read_comm(int pid_dir_fd, pid_t pid, char *buf, size_t size) {
        _cleanup_close_ int fd = -1;
        char path[64];
        ssize_t k;

        if (size < 2)
                return -EINVAL;
        if (pid_dir_fd >= 0)
                fd = openat(pid_dir_fd, "comm", O_RDONLY | O_CLOEXEC);
        else {
                snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0)
                return negative_errno();
        k = read(fd, buf, size - 1);
        if (k <= 0)
                return -ESRCH;
        buf[k] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}
