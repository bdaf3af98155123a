/* The occlum backend: DCAP quotes from Occlum's /dev/sgx inside an SGX enclave.
 *   SGXIOC_GET_DCAP_QUOTE_SIZE (0x80047307) -> uint32 size
 *   SGXIOC_GEN_DCAP_QUOTE      (0xc0187308) -> {report_data*, quote_len* (in/out), quote_buf*}
 * EBUSY is retried with a bounded exponential backoff; EIO means the DCAP stack (QE, PCCS
 * provisioning) is not ready; EINVAL means the buffer was too small. The enclave's measurement is
 * read from the quote itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tee/quote.h"
#include "tee/tee_io.h"

_Static_assert(TL_SGXIOC_GET_DCAP_QUOTE_SIZE == 0x80047307UL, "Occlum ioctl number");
_Static_assert(TL_SGXIOC_GEN_DCAP_QUOTE == 0xc0187308UL, "Occlum ioctl number");

#define BUSY_TRIES 8          /* sleeps of 10, 20, 40 ... 640 ms between them: < 1.3 s in total */
#define MAX_QUOTE (1 << 20)

typedef struct {
    tl_tee base;
    tl_occlum_io io;
    char device[256];
    int fd;
} occlum_tee;

static int sys_ioctl(int fd, unsigned long req, void *arg, void *ctx)
{
    (void)ctx;
    return ioctl(fd, req, arg);
}

static void sys_sleep(unsigned ms, void *ctx)
{
    (void)ctx;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ioctl with EBUSY/EINTR retry; returns 0 or the final errno. */
static int call(occlum_tee *o, unsigned long req, void *arg, int *tries)
{
    unsigned wait = 10;
    for (*tries = 1;; (*tries)++) {
        if (o->io.ioctl_fn(o->fd, req, arg, o->io.ctx) == 0)
            return 0;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EBUSY || *tries >= BUSY_TRIES)
            return e;
        o->io.sleep_ms(wait, o->io.ctx);
        wait *= 2;
    }
}

static int explain(occlum_tee *o, const char *what, int e, int tries, tl_err *err)
{
    switch (e) {
    case EBUSY:
        return tl_errf(err, TL_EIO, "tee occlum: %s: %s stayed busy after %d attempts", what, o->device, tries);
    case EIO:
        return tl_errf(err, TL_EIO,
                       "tee occlum: %s: DCAP is not ready (EIO): the quoting enclave could not produce a quote; check "
                       "the host's aesmd/QE and PCCS (sgx_default_qcnl.conf) setup", what);
    case EINVAL:
        return tl_errf(err, TL_EINVAL, "tee occlum: %s: rejected by %s (EINVAL: quote buffer too small or bad argument)",
                       what, o->device);
    default:
        return tl_errf(err, TL_EIO, "tee occlum: %s: %s: %s", what, o->device, strerror(e));
    }
}

static int quote_size(occlum_tee *o, uint32_t *size, tl_err *err)
{
    int tries, e = call(o, TL_SGXIOC_GET_DCAP_QUOTE_SIZE, size, &tries);
    if (e)
        return explain(o, "quote size", e, tries, err);
    if (*size < TL_QUOTE_HEADER + TL_SGX_REPORT_BODY + 4 || *size > MAX_QUOTE)
        return tl_errf(err, TL_EINVAL, "tee occlum: implausible quote size %u from %s", *size, o->device);
    return 0;
}

static int occlum_evidence(tl_tee *t, const uint8_t rd[64], uint8_t **evidence, size_t *len, tl_err *err)
{
    occlum_tee *o = (occlum_tee *)t;
    uint32_t size;
    if (quote_size(o, &size, err))
        return err->code;
    uint8_t report_data[64];
    memcpy(report_data, rd, 64);
    for (int attempt = 0;; attempt++) {
        uint8_t *buf = calloc(1, size);
        if (!buf)
            return tl_errf(err, TL_ENOMEM, "tee occlum: out of memory");
        uint32_t qlen = size;
        tl_sgxioc_gen_dcap_quote arg = {report_data, &qlen, buf};
        int tries, e = call(o, TL_SGXIOC_GEN_DCAP_QUOTE, &arg, &tries);
        if (e == EINVAL && attempt == 0) {
            /* the size may have grown since we asked (e.g. a new PCK chain): ask again, once */
            uint32_t again;
            free(buf);
            if (quote_size(o, &again, err))
                return err->code;
            if (again > size) {
                size = again;
                continue;
            }
            return tl_errf(err, TL_EINVAL,
                           "tee occlum: quote buffer of %u bytes is too small for %s (EINVAL), and the device reports no larger size",
                           size, o->device);
        }
        if (e) {
            free(buf);
            return explain(o, "generate quote", e, tries, err);
        }
        size_t n = qlen && qlen <= size ? qlen : size;
        tl_quote q;
        if (tl_quote_parse(buf, n, &q, err)) {
            free(buf);
            return tl_err_prefix(err, "tee occlum: %s returned a malformed quote", o->device);
        }
        if (q.version != 3 || memcmp(q.body + TL_RB_REPORTDATA, report_data, 64)) {
            free(buf);
            return tl_errf(err, TL_EINVAL, "tee occlum: %s returned a quote for different report data", o->device);
        }
        *evidence = buf;
        *len = q.end; /* without the zero padding */
        return 0;
    }
}

static void occlum_close(tl_tee *t)
{
    occlum_tee *o = (occlum_tee *)t;
    if (o->fd >= 0)
        close(o->fd);
    free(o);
}

tl_tee *tl_tee_occlum_open_io(const tl_occlum_io *io, tl_err *err)
{
    occlum_tee *o = calloc(1, sizeof *o);
    if (!o) {
        tl_errf(err, TL_ENOMEM, "tee occlum: out of memory");
        return NULL;
    }
    o->io = *io;
    if (!o->io.ioctl_fn)
        o->io.ioctl_fn = sys_ioctl;
    if (!o->io.sleep_ms)
        o->io.sleep_ms = sys_sleep;
    snprintf(o->device, sizeof o->device, "%s", io->device ? io->device : "/dev/sgx");
    o->fd = open(o->device, O_RDWR | O_CLOEXEC);
    if (o->fd < 0) {
        tl_errf(err, errno == ENOENT ? TL_ENOTFOUND : TL_EIO, "tee occlum: cannot open %s: %s%s", o->device,
                strerror(errno), errno == ENOENT ? " (not running inside an Occlum enclave?)" : "");
        free(o);
        return NULL;
    }
    o->base = (tl_tee){.name = "occlum", .evidence = occlum_evidence, .close = occlum_close, .impl = o};
    return &o->base;
}

tl_tee *tl_tee_occlum_open(const char *device, tl_err *err)
{
    tl_occlum_io io = {device, NULL, NULL, NULL};
    return tl_tee_occlum_open_io(&io, err);
}
