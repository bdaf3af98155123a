/* `teelm import`: PyTorch .pth state_dicts (a whole model.pth, the prototype's per-layer files, or
 * directories of them) to safetensors, without executing anything from the files. */
#ifndef TEELM_FORMATS_IMPORT_H
#define TEELM_FORMATS_IMPORT_H

#include "util/err.h"

typedef struct {
    int complete;     /* 1: a loadable model was written in the requested layouts */
    int nfiles;       /* .pth files read */
    int ntensors;     /* tensors imported */
    int nwritten;     /* safetensors files written */
    char note[1024];  /* config inferred (complete) or what is missing (partial) */
} tl_import_report;

/* Reads every source (a .pth file, or a directory: its *.pth files) and writes dest/.
 * A file's part is taken from its name: model.pth (or any other name) holds full state_dict names;
 * token_embedding.pth, transformer_block_{i}.pth and final_linear.pth hold keys relative to the
 * module, as the prototype saved them. A complete model is checked against its inferred config and
 * saved in `layouts` (TL_LAYOUT_FULL|TL_LAYOUT_SPLIT); a partial one (e.g. only block files) is
 * checked part by part and written as the split-layout files of the parts present. */
int tl_import_pth(const char *const *src, int nsrc, const char *dest, int layouts, tl_import_report *rep, tl_err *err);

#endif
