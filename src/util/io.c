#include "util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_fd(int fd, const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) {
                free(buf);
                return tl_errf(err, TL_EINVAL, "%s: larger than the limit of %zu bytes", path, max_bytes);
            }
            cap *= 2;
            uint8_t *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                return tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            return tl_errf(err, TL_EIO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max_bytes) {
        free(buf);
        return tl_errf(err, TL_EINVAL, "%s: larger than the limit of %zu bytes", path, max_bytes);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int tl_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err)
{
    if (strcmp(path, "-") == 0)
        return read_fd(0, "<stdin>", max_bytes, data, len, err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tl_errf(err, errno == ENOENT ? TL_ENOTFOUND : TL_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tl_errf(err, TL_EINVAL, "%s: not a regular file", path);
    }
    int rc = read_fd(fd, path, max_bytes, data, len, err);
    close(fd);
    return rc;
}

int tl_write_file_atomic(const char *path, const void *data, size_t len, int mode, tl_err *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return tl_errf(err, TL_EINVAL, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return tl_errf(err, TL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return tl_errf(err, TL_EIO, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return tl_errf(err, TL_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return tl_errf(err, TL_EIO, "%s: rename failed: %s", path, strerror(e));
    }
    return 0;
}

int tl_mkdirs(const char *path, int mode, tl_err *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return tl_errf(err, TL_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
                return tl_errf(err, TL_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    if (!tl_is_dir(path))
        return tl_errf(err, TL_EIO, "%s: exists and is not a directory", path);
    return 0;
}

int tl_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tl_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tl_path_join(char *out, size_t n, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int r = snprintf(out, n, "%s%s%s", dir, (dl && dir[dl - 1] == '/') ? "" : "/", name);
    return r < 0 || (size_t)r >= n;
}
