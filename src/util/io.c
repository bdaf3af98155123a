#include "util/io.h"

#include <dirent.h>
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

static const char *kind_of(mode_t m)
{
    return S_ISFIFO(m) ? "a fifo" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a plain file";
}

int tl_open_regular(const char *path, tl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        tl_errf(err, e == ENOENT ? TL_ENOTFOUND : e == ENXIO ? TL_EINVAL : TL_EIO, "%s: %s", path,
                e == ENXIO ? "not a regular file (a socket or device)" : strerror(e));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        tl_errf(err, TL_EIO, "%s: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        tl_errf(err, TL_EINVAL, "%s: not a regular file (%s)", path, kind_of(st.st_mode));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        tl_errf(err, TL_EIO, "%s: %s", path, strerror(e));
        return -1;
    }
    return fd;
}

int tl_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int tl_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err)
{
    if (strcmp(path, "-") == 0)
        return read_fd(0, "<stdin>", max_bytes, data, len, err);
    int fd = tl_open_regular(path, err);
    if (fd < 0)
        return err ? err->code : TL_EIO;
    int rc = read_fd(fd, path, max_bytes, data, len, err);
    close(fd);
    return rc;
}

int tl_read_secret_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err)
{
    int fd = tl_open_regular(path, err);
    if (fd < 0)
        return err ? err->code : TL_EIO;
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0)
        rc = tl_errf(err, TL_EIO, "%s: %s", path, strerror(errno));
    else if (st.st_mode & 077)
        rc = tl_errf(err, TL_EINVAL, "%s: holds a secret but its group or others may access it (mode %04o); run chmod 600 %s",
                     path, (unsigned)(st.st_mode & 07777), path);
    else
        rc = read_fd(fd, path, max_bytes, data, len, err);
    close(fd);
    return rc;
}

int tl_atomic_open(tl_atomic_file *f, const char *path, int mode, tl_err *err)
{
    f->fd = -1;
    f->mode = mode;
    f->path = path;
    if (snprintf(f->tmp, sizeof f->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof f->tmp) {
        f->tmp[0] = 0;
        return tl_errf(err, TL_EINVAL, "%s: path too long", path);
    }
    f->fd = mkostemp(f->tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600, random suffix */
    if (f->fd < 0) {
        int e = errno;
        f->tmp[0] = 0;
        return tl_errf(err, TL_EIO, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    return 0;
}

int tl_atomic_write(tl_atomic_file *f, const void *data, size_t len, tl_err *err)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            tl_atomic_abort(f);
            return tl_errf(err, TL_EIO, "%s: write failed: %s", f->path, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void tl_atomic_abort(tl_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp[0])
        unlink(f->tmp);
    f->tmp[0] = 0;
}

/* Makes the rename durable: a crash right after commit keeps the new file, not the old. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path) >= (int)sizeof dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
}

int tl_atomic_commit(tl_atomic_file *f, tl_err *err)
{
    if (fchmod(f->fd, (mode_t)f->mode) != 0 || fsync(f->fd) != 0) {
        int e = errno;
        tl_atomic_abort(f);
        return tl_errf(err, TL_EIO, "%s: write failed: %s", f->path, strerror(e));
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        int e = errno;
        tl_atomic_abort(f);
        return tl_errf(err, TL_EIO, "%s: write failed: %s", f->path, strerror(e));
    }
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        tl_atomic_abort(f);
        return tl_errf(err, TL_EIO, "%s: rename failed: %s", f->path, strerror(e));
    }
    f->tmp[0] = 0;
    sync_dir_of(f->path);
    return 0;
}

int tl_write_file_atomic(const char *path, const void *data, size_t len, int mode, tl_err *err)
{
    tl_atomic_file f;
    int rc = tl_atomic_open(&f, path, mode, err);
    if (!rc)
        rc = tl_atomic_write(&f, data, len, err);
    if (!rc)
        rc = tl_atomic_commit(&f, err);
    return rc;
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

int tl_remove_files_where(const char *dir, int (*stale)(const char *name, void *user), void *user, tl_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tl_errf(err, TL_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        char p[4096];
        if (!stale(e->d_name, user))
            continue;
        if (tl_path_join(p, sizeof p, dir, e->d_name))
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
        else if (unlink(p) != 0 && errno != ENOENT)
            rc = tl_errf(err, TL_EIO, "%s: cannot remove stale file: %s", p, strerror(errno));
    }
    closedir(d);
    return rc;
}
