#include "tensor/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256
#define SPIN 20000 /* ~10-50 us of polling before sleeping */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    atomic_int busy;             /* a caller owns the pool */
    atomic_uint gen;             /* incremented per job */
    atomic_int remaining;        /* workers still running the job */
    void (*fn)(void *, int, int);
    void *arg;
    int nt;                      /* threads in the current job (caller included) */
    int nworkers;                /* started */
} pool_t;

static pool_t g = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                   .done_cv = PTHREAD_COND_INITIALIZER};
static atomic_int g_threads; /* 0 = not decided yet */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int default_threads(void)
{
    const char *e = getenv("OMP_NUM_THREADS");
    int n = e ? atoi(e) : 0;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n > MAX_THREADS ? MAX_THREADS : n;
}

void tl_set_threads(int n)
{
    if (n < 1)
        n = default_threads();
    atomic_store(&g_threads, n > MAX_THREADS ? MAX_THREADS : n);
}

int tl_get_threads(void)
{
    int n = atomic_load(&g_threads);
    if (n == 0) {
        n = default_threads();
        atomic_store(&g_threads, n);
    }
    return n;
}

static void *worker(void *p)
{
    const int tid = (int)(long)p;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&g.gen, memory_order_acquire) == seen && spins < SPIN) {
            cpu_relax();
            spins++;
        }
        /* take a consistent snapshot of the job under the lock that published it */
        pthread_mutex_lock(&g.mu);
        while (atomic_load(&g.gen) == seen)
            pthread_cond_wait(&g.wake, &g.mu);
        seen = atomic_load(&g.gen);
        void (*fn)(void *, int, int) = g.fn;
        void *arg = g.arg;
        int nt = g.nt;
        pthread_mutex_unlock(&g.mu);
        if (tid < nt) {
            fn(arg, tid, nt);
            if (atomic_fetch_sub_explicit(&g.remaining, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&g.mu);
                pthread_cond_signal(&g.done_cv);
                pthread_mutex_unlock(&g.mu);
            }
        }
    }
    return NULL;
}

/* Starts workers 1..n-1 (under g.mu). Returns how many threads the pool can run. */
static int ensure_workers(int n)
{
    while (g.nworkers < n - 1) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker, (void *)(long)(g.nworkers + 1));
        pthread_attr_destroy(&at);
        if (rc)
            break;
        g.nworkers++;
    }
    return g.nworkers + 1;
}

void tl_parallel(int want, void (*fn)(void *arg, int tid, int nt), void *arg)
{
    int n = tl_get_threads();
    if (want < n)
        n = want;
    int expected = 0;
    if (n <= 1 || !atomic_compare_exchange_strong(&g.busy, &expected, 1)) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&g.mu);
    n = ensure_workers(n) < n ? g.nworkers + 1 : n;
    if (n <= 1) {
        pthread_mutex_unlock(&g.mu);
        atomic_store(&g.busy, 0);
        fn(arg, 0, 1);
        return;
    }
    g.fn = fn;
    g.arg = arg;
    g.nt = n;
    atomic_store(&g.remaining, n - 1);
    atomic_fetch_add_explicit(&g.gen, 1, memory_order_release);
    pthread_cond_broadcast(&g.wake);
    pthread_mutex_unlock(&g.mu);
    fn(arg, 0, n);
    int spins = 0;
    while (atomic_load_explicit(&g.remaining, memory_order_acquire) > 0 && spins < SPIN) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&g.remaining) > 0) {
        pthread_mutex_lock(&g.mu);
        while (atomic_load(&g.remaining) > 0)
            pthread_cond_wait(&g.done_cv, &g.mu);
        pthread_mutex_unlock(&g.mu);
    }
    atomic_store(&g.busy, 0);
}
