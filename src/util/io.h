/* Bounded file reading and atomic writing. */
#ifndef TEELM_UTIL_IO_H
#define TEELM_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Reads a whole regular file (or "-" for stdin) of at most max_bytes into a malloc'd buffer with
 * a NUL byte after the data (not counted in *len). */
int tl_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, tl_err *err);
/* Writes data to path via a temporary file + rename, so readers never see a partial file.
 * mode is the permission of the new file (0600 for secrets, 0644 otherwise). */
int tl_write_file_atomic(const char *path, const void *data, size_t len, int mode, tl_err *err);
/* mkdir -p with the given mode. */
int tl_mkdirs(const char *path, int mode, tl_err *err);
int tl_is_dir(const char *path);
int tl_is_file(const char *path);
/* Joins dir and name into out (size n); returns non-zero if it does not fit. */
int tl_path_join(char *out, size_t n, const char *dir, const char *name);

#endif
