/* util/harden: after tl_harden_process the core limit is 0 (soft and hard: it cannot be raised
 * again) and the process is not dumpable; tl_secret_protect marks the pages of a buffer
 * MADV_DONTDUMP and mlocks them, as the kernel reports in /proc/self/smaps (VmFlags "dd", "lo");
 * tl_secure_process_start also sets up OpenSSL's secure heap. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <openssl/crypto.h>

#include "test.h"
#include "util/harden.h"

/* The VmFlags line of the mapping that starts at p, or "" if none. */
static const char *vmflags(const void *p)
{
    static char flags[512];
    char want[32], line[512];
    snprintf(want, sizeof want, "%lx-", (unsigned long)(uintptr_t)p);
    flags[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) == 0)
            in = 1;
        else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, sizeof flags, "%s", line + 8);
            break;
        }
    }
    if (f)
        fclose(f);
    return flags;
}

static int has_flag(const char *flags, const char *f)
{
    char copy[512], *save = NULL;
    snprintf(copy, sizeof copy, "%s", flags);
    for (char *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
        if (strcmp(t, f) == 0)
            return 1;
    return 0;
}

int main(void)
{
    tl_err err = {0};
    CHECKF(tl_secure_process_start(&err) == 0, "%s", err.msg);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0);
    CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
    CHECK(CRYPTO_secure_malloc_initialized() == 1);
    void *s = OPENSSL_secure_malloc(64);
    CHECK(s && CRYPTO_secure_allocated(s));
    OPENSSL_secure_clear_free(s, 64);

    /* a mapping of its own, so the flags the kernel reports belong to this buffer only */
    const size_t n = 3 * 4096;
    uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    CHECK(!has_flag(vmflags(p), "dd"));
    int done = tl_secret_protect(p + 100, n - 200, TL_SECRET_DONTDUMP | TL_SECRET_LOCK);
    CHECK(done & TL_SECRET_DONTDUMP);
    const char *fl = vmflags(p);
    CHECKF(has_flag(fl, "dd"), "VmFlags:%s", fl);
#ifdef __SANITIZE_ADDRESS__
    /* ASan's mlock interceptor returns 0 without locking anything (shadow memory) */
    printf("note: AddressSanitizer build: mlock is a no-op here, its flag is not checked\n");
#else
    if (done & TL_SECRET_LOCK)
        CHECKF(has_flag(fl, "lo"), "VmFlags:%s", fl);
    else
        printf("note: mlock refused here (RLIMIT_MEMLOCK); not fatal by design\n");
#endif
    CHECK(tl_secret_protect(NULL, 10, TL_SECRET_LOCK) == 0 && tl_secret_protect(p, 0, TL_SECRET_LOCK) == 0);
    munmap(p, n);
    return test_finish();
}
