/* Probe for test_skip_rules.sh (not a test itself): exercises the harness's end states.
 *   skip_probe zero         test_finish with no check run (must fail)
 *   skip_probe pass         one passing check (must pass)
 *   skip_probe skip WHY     test_skip(WHY)
 *   skip_probe shared WHY   test_skip_shared(WHY) */
#include "test.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "pass") == 0)
        CHECK(argc == 2);
    else if (argc == 3 && strcmp(argv[1], "skip") == 0)
        test_skip(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "shared") == 0)
        test_skip_shared(argv[2]);
    else if (argc != 2 || strcmp(argv[1], "zero") != 0) {
        fprintf(stderr, "usage: skip_probe zero|pass|skip WHY|shared WHY\n");
        return 2;
    }
    return test_finish();
}
