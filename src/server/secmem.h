/* Zero-on-free allocation for per-request data. Prompts and completions pass through jansson
 * (request and response JSON) and libevent (socket buffers); routing those libraries' allocations
 * through these functions makes every freed block be wiped (OPENSSL_cleanse) before it returns to
 * malloc, so no prompt or output text lingers in freed heap memory. */
#ifndef TEELM_SERVER_SECMEM_H
#define TEELM_SERVER_SECMEM_H

#include <stddef.h>

void *tl_sec_malloc(size_t n);
void *tl_sec_realloc(void *p, size_t n);
void tl_sec_free(void *p); /* wipes the whole usable block, then frees */

/* Installs the functions above into jansson and libevent, and into OpenSSL when it has not
 * allocated yet (it refuses a change after its first allocation). Call before any use of those
 * libraries. Returns a bit mask of what was installed: 1 jansson, 2 libevent, 4 OpenSSL. */
int tl_secmem_install(void);

#endif
