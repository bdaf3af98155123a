/* Bounded file reading and atomic writing. */
#ifndef TEELM_UTIL_IO_H
#define TEELM_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Opens path for reading and refuses anything but a regular file (a FIFO, device or directory
 * put in place of a file by the host): the open is non-blocking, so a FIFO with no writer cannot
 * hang the caller, and the returned descriptor is blocking again. -1 with err set on failure
 * ("PATH: not a regular file (a fifo)"). */
int tl_open_regular(const char *path, tl_err *err);
/* Reads exactly n bytes at offset off, through short reads and EINTR: 0, or -1 on a read error or
 * when the file ends first. */
int tl_pread_all(int fd, void *buf, size_t n, uint64_t off);
/* Reads a whole regular file (or "-" for stdin) of at most max_bytes into a malloc'd buffer with
 * a NUL byte after the data (not counted in *len). */
int tl_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err);
/* As tl_read_file (no stdin), for secrets (key files, tokens): also refuses a file that its
 * group or others may read or write (mode & 077), telling to chmod 600, before reading a byte. */
int tl_read_secret_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err);

/* A file being written next to its final path, made visible only by tl_atomic_commit.
 * The temporary is created under a fresh random name PATH.tmp.XXXXXX with O_CREAT|O_EXCL
 * (never an existing file, never through a symlink: in a directory others can write, a planted
 * file or link is not used) and mode 0600 while it is written; commit then sets `mode` exactly
 * (the umask is not applied), fsyncs, and renames over path. rename replaces a symlink at path
 * itself: it never writes through one. */
typedef struct {
    int fd;
    int mode;
    char tmp[4096];
    const char *path;
} tl_atomic_file;
int tl_atomic_open(tl_atomic_file *f, const char *path, int mode, tl_err *err);
int tl_atomic_write(tl_atomic_file *f, const void *data, size_t len, tl_err *err);
int tl_atomic_commit(tl_atomic_file *f, tl_err *err); /* also discards the temporary on failure */
void tl_atomic_abort(tl_atomic_file *f);              /* closes and removes the temporary */
/* The three steps for one buffer. mode: 0600 for secrets, 0644 otherwise. */
int tl_write_file_atomic(const char *path, const void *data, size_t len, int mode, tl_err *err);
/* mkdir -p with the given mode. */
int tl_mkdirs(const char *path, int mode, tl_err *err);
int tl_is_dir(const char *path);
int tl_is_file(const char *path);
/* Joins dir and name into out (size n); returns non-zero if it does not fit. */
int tl_path_join(char *out, size_t n, const char *dir, const char *name);
/* Removes every entry of dir whose name stale(name, user) accepts (one already gone is no error):
 * how a save clears the files of an earlier layout. 0, or the error of the first that failed. */
int tl_remove_files_where(const char *dir, int (*stale)(const char *name, void *user), void *user, tl_err *err);

#endif
