#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_level = TL_LOG_INFO;
static FILE *g_stream;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void tl_log_set_level(int level) { g_level = level; }
int tl_log_level(void) { return g_level; }

void tl_log_set_stream(FILE *f)
{
    pthread_mutex_lock(&g_lock);
    g_stream = f;
    pthread_mutex_unlock(&g_lock);
}

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0 if the bytes there are
 * not one (overlong forms, surrogates and values past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Code points that are valid text but move the cursor, end a line or reorder what is shown. */
static int invisible(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t tl_log_escape(const char *in, size_t len, char *out, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    if (!n)
        return 0;
    for (size_t i = 0; i < len;) {
        char tmp[16];
        size_t tl, adv = 1;
        uint32_t cp = 0;
        unsigned char c = s[i];
        if (c == '\\')
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\\\");
        else if (c == '\n')
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\n");
        else if (c == '\r')
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\r");
        else if (c == '\t')
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\t");
        else if (c < 0x20 || c == 0x7f)
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", c);
        else if (c < 0x80)
            tmp[0] = (char)c, tl = 1;
        else if ((adv = utf8_seq(s + i, len - i, &cp)) == 0)
            adv = 1, tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", c);
        else if (invisible(cp))
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\u{%04x}", (unsigned)cp);
        else
            memcpy(tmp, s + i, adv), tl = adv;
        if (o + tl >= n)
            break;
        memcpy(out + o, tmp, tl);
        o += tl;
        i += adv;
    }
    out[o] = 0;
    return o;
}

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
    char small[1024], *msg = small;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof small && (msg = malloc((size_t)len + 1)) != NULL)
        vsnprintf(msg, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    if (!msg) /* out of memory: log the truncated message rather than nothing */
        msg = small, len = (int)strlen(small);
    if (len < 0)
        len = 0;
    /* at most 4 output bytes per input byte: \xNN for one byte, \u{xxxx} for two or three */
    size_t cap = (size_t)len * 4 + 1;
    char comp[128], *esc = malloc(cap);
    tl_log_escape(component ? component : "-", component ? strlen(component) : 1, comp, sizeof comp);
    if (esc)
        tl_log_escape(msg, (size_t)len, esc, cap);
    pthread_mutex_lock(&g_lock);
    FILE *f = g_stream ? g_stream : stderr;
    fprintf(f, "%s.%03ldZ %s [%s] %s\n", when, ts.tv_nsec / 1000000, names[level < 0 ? 0 : level > 3 ? 3 : level], comp,
            esc ? esc : "(out of memory formatting the log line)");
    fflush(f);
    pthread_mutex_unlock(&g_lock);
    free(esc);
    if (msg != small)
        free(msg);
}
