/* Seams of the occlum and tsm backends, so tests can put a fake device / fake configfs behind them
 * (tests/attest/test_backends.c). Production code uses tl_tee_occlum_open / tl_tee_tsm_open, which
 * fill these with the real system calls. */
#ifndef TEELM_TEE_TEE_IO_H
#define TEELM_TEE_TEE_IO_H

#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "tee/tee.h"

/* Occlum's /dev/sgx interface (occlum/src/libos/src/fs/dev_fs/dev_sgx). */
typedef struct {
    uint8_t *report_data; /* 64 bytes */
    uint32_t *quote_len;  /* in: buffer size; out: quote size */
    uint8_t *quote_buf;
} tl_sgxioc_gen_dcap_quote;

#define TL_SGXIOC_GET_DCAP_QUOTE_SIZE _IOR('s', 7, uint32_t)
#define TL_SGXIOC_GEN_DCAP_QUOTE _IOWR('s', 8, tl_sgxioc_gen_dcap_quote)

typedef struct {
    const char *device;                                  /* NULL = /dev/sgx */
    int (*ioctl_fn)(int fd, unsigned long req, void *arg, void *ctx); /* NULL = ioctl(2) */
    void (*sleep_ms)(unsigned ms, void *ctx);            /* EBUSY backoff; NULL = nanosleep */
    void *ctx;
} tl_occlum_io;

tl_tee *tl_tee_occlum_open_io(const tl_occlum_io *io, tl_err *err);

/* configfs-tsm file operations; each returns 0 or -1 with errno set. */
typedef struct {
    const char *root;                                    /* NULL = /sys/kernel/config/tsm/report */
    int (*mkdir_fn)(const char *path, void *ctx);
    int (*rmdir_fn)(const char *path, void *ctx);
    /* reads at most cap bytes into buf, *n = bytes read */
    int (*read_fn)(const char *path, uint8_t *buf, size_t cap, size_t *n, void *ctx);
    int (*write_fn)(const char *path, const uint8_t *data, size_t n, void *ctx);
    void *ctx;
    /* tdx_guest measurement registers (Linux 6.16+, sysfs-devices-virtual-misc-tdx_guest):
     * reading rtmr3:sha384 gives RTMR3, writing 48 bytes extends it. The same read_fn / write_fn
     * reach them. NULL = /sys/class/misc/tdx_guest/measurements */
    const char *mr_root;
    /* sev_guest (tl_tee_opts has the same fields): extra certificate files, a VCEK cache
     * directory, AMD's KDS base URL; fetch_fn NULL = libcurl GET (tee/pccs.h tl_http_get). */
    const char *const *snp_cert_files;
    int n_snp_cert_files;
    const char *snp_vcek_cache;
    const char *snp_vcek_url;
    int (*fetch_fn)(const char *url, uint8_t **body, size_t *n, void *ctx, tl_err *err);
} tl_tsm_io;

tl_tee *tl_tee_tsm_open_io(const tl_tsm_io *io, tl_err *err);

#endif
