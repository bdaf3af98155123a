#include "util/harden.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "util/log.h"
#include "util/secmem.h"

/* A power of two. When full, OpenSSL fails the allocation (it does not fall back), and every TLS
 * handshake holds an ephemeral key there: 1 MiB is room for thousands of them. */
#define SECURE_HEAP_BYTES (1u << 20)

/* A LibOS (Occlum) may not implement a call: there the enclave's memory is out of the host's reach
 * whatever the flags say, so "not supported" is logged, not fatal. Any other failure is. */
static int unsupported(int e)
{
    return e == ENOSYS || e == EINVAL;
}

int tl_harden_process(tl_err *err)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        if (!unsupported(errno))
            return tl_errf(err, TL_EIO, "cannot disable core dumps (setrlimit RLIMIT_CORE): %s", strerror(errno));
        tl_log(TL_LOG_WARN, "harden", "setrlimit(RLIMIT_CORE) is not supported here (%s)", strerror(errno));
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        if (!unsupported(errno))
            return tl_errf(err, TL_EIO, "cannot make the process non-dumpable (prctl PR_SET_DUMPABLE): %s",
                           strerror(errno));
        tl_log(TL_LOG_WARN, "harden", "prctl(PR_SET_DUMPABLE) is not supported here (%s)", strerror(errno));
    }
    return 0;
}

int tl_secure_process_start(tl_err *err)
{
    tl_secmem_install();
    /* OpenSSL's secure heap: private keys (the TLS and RA-TLS keys, ECDH ephemerals) are then
     * allocated from a locked, MADV_DONTDUMP mapping with guard pages, wiped on free. */
    int sh = CRYPTO_secure_malloc_initialized() ? 1 : CRYPTO_secure_malloc_init(SECURE_HEAP_BYTES, 16);
    if (sh == 2)
        tl_log(TL_LOG_INFO, "harden", "OpenSSL secure heap could not be locked in memory; it is used unlocked");
    else if (sh != 1)
        tl_log(TL_LOG_INFO, "harden", "OpenSSL secure heap unavailable; private keys live in the normal heap");
    return tl_harden_process(err);
}

/* One message per kind per process: a server protects many buffers, and the reason is the same. */
static atomic_int warned_dump, warned_lock;

static void note_once(atomic_int *flag, const char *what, size_t n, int e)
{
    if (!atomic_exchange(flag, 1))
        tl_log(TL_LOG_INFO, "harden", "%s of a %zu-byte secret buffer failed (%s); continuing without it", what, n,
               strerror(e));
}

int tl_secret_protect(void *p, size_t n, int what)
{
    if (!p || !n)
        return 0;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p / page * page, hi = ((uintptr_t)p + n + page - 1) / page * page;
    void *base = (void *)lo;
    size_t len = hi - lo;
    int done = 0;
    if (what & TL_SECRET_DONTDUMP) {
        if (madvise(base, len, MADV_DONTDUMP) == 0)
            done |= TL_SECRET_DONTDUMP;
        else
            note_once(&warned_dump, "MADV_DONTDUMP", n, errno);
    }
    if (what & TL_SECRET_LOCK) {
        if (((what & TL_SECRET_LOCK_ONFAULT) && mlock2(base, len, MLOCK_ONFAULT) == 0) || mlock(base, len) == 0)
            done |= TL_SECRET_LOCK;
        else
            note_once(&warned_lock, "mlock", n, errno);
    }
    return done;
}
