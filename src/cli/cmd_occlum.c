/* Placeholder until the owning layer lands; replaced wholesale by its owner. */
#include "cli/args.h"
#include "cli/commands.h"
int cmd_occlum_config(int argc, char **argv)
{
    static const tl_opt opts[] = {{0}};
    static const tl_cmdspec spec = {"occlum-config", "", "Not available in this build yet.", opts, 0, 64};
    const char *pos[64];
    int rc = tl_args_parse(&spec, argc, argv, pos, NULL);
    if (rc)
        return rc == 1 ? 0 : rc;
    fprintf(stderr, "teelm occlum-config: not available in this build yet\n");
    return 1;
}
