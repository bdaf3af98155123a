/* Plaintext only until sealed models land (the seal layer extends this dispatch). */
#include "model/open.h"

int tl_model_open(const char *path, tl_open_opts *opts, tl_checkpoint *ck, tl_err *err)
{
    if (opts)
        opts->sealed = 0;
    return tl_checkpoint_load(path, ck, err);
}
