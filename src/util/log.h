/* Operational logging to stderr. Never log prompts, completions, keys or weights: only ids, counts,
 * timings and verdicts.
 *
 * Every line is exactly one line of printable text whatever the arguments hold (they often come
 * from a hostile peer: JSON field names, key ids, error messages). The formatted message and the
 * component are escaped before they are written:
 *   backslash        -> \\
 *   \n \r \t         -> \n \r \t
 *   other bytes < 0x20, DEL (0x7f), and every byte that is not part of valid UTF-8 -> \xNN
 *   C1 controls U+0080..U+009F, line/paragraph separators U+2028/U+2029 and the bidirectional
 *   controls U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069 -> \u{XXXX}
 * so a reader can neither be shown a forged second line nor have their terminal reprogrammed. */
#ifndef TEELM_UTIL_LOG_H
#define TEELM_UTIL_LOG_H

#include <stddef.h>
#include <stdio.h>

enum { TL_LOG_ERROR = 0, TL_LOG_WARN = 1, TL_LOG_INFO = 2, TL_LOG_DEBUG = 3 };

void tl_log_set_level(int level);
int tl_log_level(void);
/* Where lines go (NULL = stderr); for tests that read what was logged. */
void tl_log_set_stream(FILE *f);
void tl_log(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The escaping above, for callers that show hostile text elsewhere. Writes at most n-1 bytes and
 * a NUL (never splitting an escape); returns the length written. */
size_t tl_log_escape(const char *in, size_t len, char *out, size_t n);

#endif
