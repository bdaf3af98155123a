/* The engine's worker threads. Kernels split work with tl_parallel_for instead of OpenMP because
 * the machines teelm runs on are often shared:
 *  - OpenMP's default busy-waiting burns the CPU share a descheduled sibling thread needs
 *    (measured: a 0.8 ms inference step taking 5-12 ms on a loaded 2-core machine);
 *  - a static split makes every step wait for the slowest (descheduled) thread.
 * Here work is handed out in small chunks from a shared counter: the caller keeps taking chunks
 * until none are left, workers help whenever they get CPU time, and the caller waits only for
 * chunks already taken. Idle workers poll briefly, then sleep.
 * One pool per process. A call made while another thread is using the pool runs on its caller
 * alone, so concurrent inference workspaces (the server) never oversubscribe the cores. */
#ifndef TEELM_UTIL_POOL_H
#define TEELM_UTIL_POOL_H

/* Threads used (default: OMP_NUM_THREADS if set, else the online CPUs; at most 256). */
void tl_set_threads(int n);
int tl_get_threads(void);

/* Runs fn(arg, slot, i0, i1) over [0, n) in chunks [i0, i1) of at most `grain` items, on the
 * caller (slot 0) and up to min(max_threads, tl_get_threads()) - 1 workers (slots 1..), each slot
 * on one thread at a time; returns when every chunk is done. Chunks may run in any order and any
 * slot may run none. Per-slot scratch must be sized with tl_parallel_slots. */
void tl_parallel_for(long n, long grain, int max_threads, void (*fn)(void *arg, int slot, long i0, long i1),
                     void *arg);
/* Slots tl_parallel_for(.., max_threads, ..) may use. */
int tl_parallel_slots(int max_threads);

#endif
