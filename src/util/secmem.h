/* Zero-on-free allocation for secrets: keys, plaintext weights and their packed copies, prompts
 * and completions. Every process that handles them (serve, kbs, generate, unseal) installs these
 * functions into jansson, libevent and OpenSSL at start (tl_secmem_install), so request bodies,
 * data keys received in JSON, socket buffers and OpenSSL's own key material are wiped
 * (OPENSSL_cleanse) before they return to malloc; teelm's own secret buffers are freed with
 * tl_sec_free. */
#ifndef TEELM_UTIL_SECMEM_H
#define TEELM_UTIL_SECMEM_H

#include <stddef.h>

void *tl_sec_malloc(size_t n);
void *tl_sec_realloc(void *p, size_t n);
/* A NUL-terminated copy of exactly the n bytes at s (JSON strings may hold NULs, so not strndup),
 * from tl_sec_malloc; NULL when out of memory. Free a secret with tl_sec_free; a block of public
 * data may go to free (tl_sec_malloc is malloc). */
char *tl_sec_strndup(const char *s, size_t n);
/* Zeroes [p, p + n) so that the compiler cannot drop it (OPENSSL_cleanse; a large buffer with
 * explicit_bzero on all the worker pool's threads: a multi-GB weight buffer took a tenth of a
 * second on one core). */
void tl_sec_wipe(void *p, size_t n);
/* Wipes the whole usable block (malloc_usable_size), then frees. Works for blocks from malloc,
 * calloc, aligned_alloc and posix_memalign. */
void tl_sec_free(void *p);

/* Installs the functions above into jansson and libevent, and into OpenSSL when it has not
 * allocated yet (it refuses a change after its first allocation). Call before any use of those
 * libraries. Returns a bit mask of what was installed: 1 jansson, 2 libevent, 4 OpenSSL. */
int tl_secmem_install(void);

/* For tests: when set, tl_sec_free calls it with each block twice while the block is still owned
 * (and may be read): just before the wipe (wiped 0) and just after it (wiped 1). So a test can
 * see which secret buffers passed through the wipe and that none kept its contents. NULL turns
 * it off. */
typedef void (*tl_secmem_observer)(const void *p, size_t n, int wiped, void *user);
void tl_secmem_set_observer(tl_secmem_observer fn, void *user);

#endif
