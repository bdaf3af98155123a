/* Operational logging to stderr. Never log prompts, completions, keys or weights: only ids, counts,
 * timings and verdicts. */
#ifndef TEELM_UTIL_LOG_H
#define TEELM_UTIL_LOG_H

enum { TL_LOG_ERROR = 0, TL_LOG_WARN = 1, TL_LOG_INFO = 2, TL_LOG_DEBUG = 3 };

void tl_log_set_level(int level);
int tl_log_level(void);
void tl_log(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
