#include "cli/commands.h"

#include <string.h>

const tl_command *tl_command_find(const tl_command *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}
