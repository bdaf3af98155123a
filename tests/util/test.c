#include "test.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int test_failures, test_checks;

const char *test_shared(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    const char *root = getenv("TEELM_SHARED");
    if (!root)
        root = "../shared";
    char *out = buf[slot++ % 8];
    snprintf(out, 4096, "%s/%s", root, rel);
    struct stat st;
    if (stat(out, &st) != 0) {
        fprintf(stderr, "shared fixture %s is absent\n", out);
        return NULL;
    }
    return out;
}

void test_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

int test_finish(void)
{
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}

const char *test_tmpdir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/teelm-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return dir;
}

int test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}
