/* Internal to src/formats: the tensors of opened tensor files, each file one part of a model (a
 * full or split layout's file, a prototype .pth), as the named sources tl_checkpoint_assemble takes.
 * Loading and import differ only in which tensors a part's file may hold: that rule is theirs. */
#ifndef TEELM_FORMATS_PART_SRCS_H
#define TEELM_FORMATS_PART_SRCS_H

#include "formats/checkpoint.h"
#include "formats/layout.h"
#include "formats/tensor_file.h"

typedef struct {
    tl_tensor_file f;
    tl_part part;
    char path[4096];
} tl_part_file;

typedef struct tl_part_read tl_part_read;

typedef struct {
    tl_tensor_src *src;             /* n sources, in file order */
    char (*names)[TL_FULLNAME_MAX]; /* their full names */
    char **where;                   /* their places for messages */
    int n;
    tl_part_read *rd;
} tl_part_srcs;

/* Writes s->names[k], the full name of tensor t of file f, or refuses the tensor. Sources 0..k-1
 * are complete. */
typedef int (*tl_part_namer)(tl_part_srcs *s, int k, const tl_part_file *f, const tl_tf_tensor *t, tl_err *err);

/* The sources of every tensor of the n opened files. A tensor's place is "path: key 'k'", or for a
 * whole-model file just its path when model_by_path. Free s with tl_part_srcs_free, also on error. */
int tl_part_srcs_build(const tl_part_file *files, int n, int model_by_path, tl_part_namer name, tl_part_srcs *s,
                       tl_err *err);
void tl_part_srcs_free(tl_part_srcs *s);

#endif
