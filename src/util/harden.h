/* Process hardening for everything that holds keys, plaintext weights or prompts (serve, kbs,
 * generate, unseal): no core dumps, and secret buffers kept out of dumps and swap where the OS
 * allows. docs/threat-model.md ("Core dumps") says what each step stops. */
#ifndef TEELM_UTIL_HARDEN_H
#define TEELM_UTIL_HARDEN_H

#include <stddef.h>

#include "util/err.h"

/* setrlimit(RLIMIT_CORE, 0) (soft and hard: the process cannot raise it again) and
 * prctl(PR_SET_DUMPABLE, 0): no core file, no ptrace attach by same-uid processes, and the
 * /proc/PID files that expose memory become root-only. A call the kernel or LibOS does not
 * implement (ENOSYS, EINVAL: Occlum) is logged as a warning; any other failure is an error. */
int tl_harden_process(tl_err *err);

/* tl_secmem_install() (util/secmem.h), OpenSSL's secure heap (CRYPTO_secure_malloc_init: private
 * keys in a locked, MADV_DONTDUMP mapping; logged at info when unavailable), then
 * tl_harden_process(): the first thing serve, kbs, generate, seal and unseal do, before any
 * jansson, libevent or OpenSSL allocation. */
int tl_secure_process_start(tl_err *err);

enum {
    TL_SECRET_DONTDUMP = 1, /* MADV_DONTDUMP on the pages covering the buffer (heap or mmap memory
                               only: not for stack buffers) */
    TL_SECRET_LOCK = 2,     /* mlock: never written to swap */
    TL_SECRET_LOCK_ONFAULT = 4, /* with TL_SECRET_LOCK: lock each page as it is first touched
                                   (mlock2 MLOCK_ONFAULT) instead of faulting all in now, so the
                                   threads that fill a large buffer also fault it in, in parallel */
};

/* Applies `what` (TL_SECRET_* bits) to [p, p + n), rounded out to whole pages (neighbouring
 * bytes on the same pages are covered too, which costs nothing). Neither step is required to
 * succeed: mlock is refused past RLIMIT_MEMLOCK without CAP_IPC_LOCK, for example. The first
 * failure of each kind is logged at info level; the return value is the bits that took effect.
 * Pages stay locked until they are unmapped (a freed large block) or the process exits. */
int tl_secret_protect(void *p, size_t n, int what);

#endif
