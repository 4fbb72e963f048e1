/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Regression driver for the libFuzzer harnesses: without -fsanitize=fuzzer,
 * each harness is linked with this main() and run over every file of its
 * corpus directories, so the corpus is a test in every build. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        struct stat st;
        uint8_t *buf;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                perror(path);
                return -1;
        }
        buf = malloc((size_t) st.st_size + 1);
        n = read(fd, buf, (size_t) st.st_size);
        close(fd);
        if (n != st.st_size) {
                fprintf(stderr, "%s: short read\n", path);
                free(buf);
                return -1;
        }
        LLVMFuzzerTestOneInput(buf, (size_t) n);
        free(buf);
        return 0;
}

int main(int argc, char *argv[]) {
        unsigned files = 0, errors = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        errors++;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        errors += run_file(argv[i]) < 0;
                        files++;
                        continue;
                }
                d = opendir(argv[i]);
                while (d && (de = readdir(d))) {
                        char p[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
                        errors += run_file(p) < 0;
                        files++;
                }
                if (d)
                        closedir(d);
        }
        printf("%s: %u passed, %u failed\n", argv[0], files - errors, errors);
        return errors == 0 && files > 0 ? 0 : 1;
}
