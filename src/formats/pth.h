/* PyTorch .pth files as torch.save writes them (zip format, PyTorch >= 1.6): a zip whose entries are
 * stored uncompressed under one top folder <archive>/: data.pkl (the pickled state_dict, read by the
 * restricted unpickler of pickle.h), data/<key> (raw little-endian storages), version, and in newer
 * releases byteorder. Legacy (pre-zip) files are refused with a hint to re-save them. */
#ifndef TEELM_FORMATS_PTH_H
#define TEELM_FORMATS_PTH_H

#include <stddef.h>
#include <stdint.h>

#include "formats/pickle.h"
#include "util/err.h"

typedef struct {
    char label[512];
    void *zip;               /* zip_t */
    char prefix[256];        /* <archive> */
    tl_pk_state_dict sd;     /* tensors in pickle order */
    int64_t *entry;          /* per tensor: zip index of its storage */
} tl_pth_file;

int tl_pth_open(const char *path, tl_pth_file *f, tl_err *err);
/* Parses a file image held in memory (kept by the caller while f is used). */
int tl_pth_open_mem(const uint8_t *buf, size_t len, const char *label, tl_pth_file *f, tl_err *err);
void tl_pth_close(tl_pth_file *f);
/* Tensor i as contiguous row-major elements of its own dtype (numel * dtype size bytes);
 * strided and offset views are gathered from their storage. */
int tl_pth_read_raw(tl_pth_file *f, int i, void *dst, tl_err *err);
/* Tensor i converted to numel float32 values. */
int tl_pth_read_f32(tl_pth_file *f, int i, float *dst, tl_err *err);

#endif
