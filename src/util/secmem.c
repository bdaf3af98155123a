#include "util/secmem.h"

#include <event2/event.h>
#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "util/pool.h"

void *tl_sec_malloc(size_t n)
{
    return malloc(n ? n : 1);
}

char *tl_sec_strndup(const char *s, size_t n)
{
    char *d = tl_sec_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

#define WIPE_PIECE ((size_t)4 << 20)

typedef struct {
    unsigned char *p;
    size_t n;
} wipe_job;

static void wipe_pieces(void *arg, int slot, long i0, long i1)
{
    (void)slot;
    const wipe_job *j = arg;
    size_t a = (size_t)i0 * WIPE_PIECE, b = (size_t)i1 * WIPE_PIECE;
    /* glibc's explicit_bzero is its memset (wide stores) behind a barrier the compiler cannot
     * drop; OPENSSL_cleanse stores 8 bytes at a time: 12 % of a 2 GB sealed model's whole run */
    explicit_bzero(j->p + a, (b < j->n ? b : j->n) - a);
}

void tl_sec_wipe(void *p, size_t n)
{
    if (n < 8 * WIPE_PIECE) {
        OPENSSL_cleanse(p, n);
        return;
    }
    wipe_job j = {p, n};
    tl_parallel_for((long)((n + WIPE_PIECE - 1) / WIPE_PIECE), 1, 256, wipe_pieces, &j);
}

static tl_secmem_observer observer;
static void *observer_user;

void tl_secmem_set_observer(tl_secmem_observer fn, void *user)
{
    observer = fn;
    observer_user = user;
}

void tl_sec_free(void *p)
{
    if (!p)
        return;
    size_t n = malloc_usable_size(p);
    if (observer)
        observer(p, n, 0, observer_user);
    tl_sec_wipe(p, n);
    if (observer)
        observer(p, n, 1, observer_user);
    free(p);
}

/* Never lets realloc move a block without wiping the old copy. */
void *tl_sec_realloc(void *p, size_t n)
{
    if (!p)
        return tl_sec_malloc(n);
    if (n == 0) {
        tl_sec_free(p);
        return NULL;
    }
    size_t have = malloc_usable_size(p);
    if (n <= have)
        return p;
    void *q = malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, have);
    tl_sec_free(p);
    return q;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return tl_sec_malloc(n);
}
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return tl_sec_realloc(p, n);
}
static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    tl_sec_free(p);
}

int tl_secmem_install(void)
{
    int done = 0;
    json_set_alloc_funcs(tl_sec_malloc, tl_sec_free);
    done |= 1;
    event_set_mem_functions(tl_sec_malloc, tl_sec_realloc, tl_sec_free);
    done |= 2;
    if (CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free))
        done |= 4;
    return done;
}
