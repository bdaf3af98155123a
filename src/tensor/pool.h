/* The engine's worker threads. Kernels split work with tl_parallel instead of OpenMP because the
 * machines teelm runs on are often shared: OpenMP's default busy-waiting burns the CPU share that
 * a descheduled sibling thread needs (measured: a 0.8 ms step taking 5-12 ms on a loaded 2-core
 * machine). Here workers spin only briefly, then sleep.
 * One pool per process. A call made while another thread is using the pool runs on its caller
 * alone, so concurrent inference workspaces (the server) never oversubscribe the cores. */
#ifndef TEELM_TENSOR_POOL_H
#define TEELM_TENSOR_POOL_H

/* Threads used by tl_parallel (default: OMP_NUM_THREADS if set, else the online CPUs; max 256). */
void tl_set_threads(int n);
int tl_get_threads(void);

/* Runs fn(arg, tid, nt) for tid = 0..nt-1, nt <= min(want, tl_get_threads()), concurrently; the
 * caller runs tid 0 and returns when all are done. want <= 1 runs fn(arg, 0, 1) inline. */
void tl_parallel(int want, void (*fn)(void *arg, int tid, int nt), void *arg);

/* The share [*a, *b) of n items for thread tid of nt (contiguous, sizes differ by at most 1). */
static inline void tl_range(long n, int tid, int nt, long *a, long *b)
{
    *a = n * tid / nt;
    *b = n * (tid + 1) / nt;
}

#endif
