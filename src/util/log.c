#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int g_level = TL_LOG_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void tl_log_set_level(int level) { g_level = level; }
int tl_log_level(void) { return g_level; }

void tl_log(int level, const char *component, const char *fmt, ...)
{
    if (level > g_level)
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_lock);
    fprintf(stderr, "%s.%03ldZ %s [%s] ", when, ts.tv_nsec / 1000000, names[level < 0 ? 0 : level > 3 ? 3 : level], component);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&g_lock);
    va_end(ap);
}
