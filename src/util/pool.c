#include "util/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256
#define SPIN 2000 /* x ~25 ns pause: poll ~50 us before sleeping */
/* a claim word holds the job number (high 24 bits) and the next item (low 40 bits), so a worker
 * that wakes up late can never take items of a newer job with an older job's function */
#define IDX_BITS 40
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    atomic_int busy;        /* a caller owns the pool */
    atomic_uint_fast64_t claim;
    atomic_long done;       /* items finished in the current job */
    /* the current job, written under mu before gen is bumped */
    atomic_uint gen;
    void (*fn)(void *, int, long, long);
    void *arg;
    long n, grain;
    int slots;
    uint64_t job;           /* job number in the claim word */
    int nworkers;
    atomic_int waiting;     /* the caller sleeps on done_cv */
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

int tl_parallel_slots(int max_threads)
{
    int n = tl_get_threads();
    if (max_threads < n)
        n = max_threads;
    return n < 1 ? 1 : n;
}

/* Takes and runs chunks of job `job` until none are left. */
static void run_chunks(void (*fn)(void *, int, long, long), void *arg, long n, long grain, uint64_t job, int slot)
{
    for (;;) {
        uint64_t c = atomic_load(&g.claim);
        long i0;
        do {
            if ((c >> IDX_BITS) != job || (long)(c & IDX_MASK) >= n)
                return;
            i0 = (long)(c & IDX_MASK);
        } while (!atomic_compare_exchange_weak(&g.claim, &c, c + (uint64_t)grain));
        long i1 = i0 + grain < n ? i0 + grain : n;
        fn(arg, slot, i0, i1);
        if (atomic_fetch_add(&g.done, i1 - i0) + (i1 - i0) == n && slot != 0 && atomic_load(&g.waiting)) {
            pthread_mutex_lock(&g.mu);
            pthread_cond_signal(&g.done_cv);
            pthread_mutex_unlock(&g.mu);
        }
    }
}

static void *worker(void *p)
{
    const int slot = (int)(long)p;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&g.gen, memory_order_acquire) == seen && spins < SPIN) {
            cpu_relax();
            spins++;
        }
        pthread_mutex_lock(&g.mu);
        while (atomic_load(&g.gen) == seen)
            pthread_cond_wait(&g.wake, &g.mu);
        seen = atomic_load(&g.gen);
        void (*fn)(void *, int, long, long) = g.fn;
        void *arg = g.arg;
        long n = g.n, grain = g.grain;
        uint64_t job = g.job;
        int slots = g.slots;
        pthread_mutex_unlock(&g.mu);
        if (slot < slots)
            run_chunks(fn, arg, n, grain, job, slot);
    }
    return NULL;
}

void tl_parallel_for(long n, long grain, int max_threads, void (*fn)(void *arg, int slot, long i0, long i1),
                     void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int nt = tl_parallel_slots(max_threads);
    int expected = 0;
    if (nt <= 1 || n <= grain || (uint64_t)n + (uint64_t)grain > IDX_MASK ||
        !atomic_compare_exchange_strong(&g.busy, &expected, 1)) {
        fn(arg, 0, 0, n);
        return;
    }
    pthread_mutex_lock(&g.mu);
    while (g.nworkers < nt - 1) {
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
    if (nt > g.nworkers + 1)
        nt = g.nworkers + 1;
    g.fn = fn;
    g.arg = arg;
    g.n = n;
    g.grain = grain;
    g.slots = nt;
    g.job = (g.job + 1) & ((UINT64_C(1) << (64 - IDX_BITS)) - 1);
    atomic_store(&g.done, 0);
    atomic_store(&g.claim, g.job << IDX_BITS);
    atomic_fetch_add_explicit(&g.gen, 1, memory_order_release);
    pthread_cond_broadcast(&g.wake);
    pthread_mutex_unlock(&g.mu);

    run_chunks(fn, arg, n, grain, g.job, 0);
    /* wait only for chunks that workers took and have not finished */
    int spins = 0;
    while (atomic_load(&g.done) < n && spins < SPIN * 4) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&g.done) < n) {
        pthread_mutex_lock(&g.mu);
        atomic_store(&g.waiting, 1);
        while (atomic_load(&g.done) < n)
            pthread_cond_wait(&g.done_cv, &g.mu);
        atomic_store(&g.waiting, 0);
        pthread_mutex_unlock(&g.mu);
    }
    atomic_store(&g.busy, 0);
}
