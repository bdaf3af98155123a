#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int test_failures, test_checks;

static const char *shared_root(void)
{
    const char *root = getenv("TEELM_SHARED");
    return root ? root : "../shared";
}

static char *path_slot(void)
{
    static char buf[8][4096];
    static int slot;
    return buf[slot++ % 8];
}

const char *test_shared(const char *rel)
{
    struct stat st;
    const char *src = getenv("TEELM_SRC");
    /* the repository carries the fixtures whose licences allow it (tests/fixtures/README.md) */
    if (src && strncmp(rel, "fixtures/", 9) == 0) {
        char *out = path_slot();
        snprintf(out, 4096, "%s/tests/%s", src, rel);
        if (stat(out, &st) == 0)
            return out;
    }
    char *out = path_slot();
    snprintf(out, 4096, "%s/%s", shared_root(), rel);
    if (stat(out, &st) != 0) {
        fprintf(stderr, "shared fixture %s is absent\n", out);
        return NULL;
    }
    return out;
}

const char *test_cl100k(void)
{
    struct stat st;
    const char *src = getenv("TEELM_SRC");
    char *out = path_slot();
    snprintf(out, 4096, "%s/data/cl100k_base.tiktoken", shared_root());
    if (stat(out, &st) == 0)
        return out;
    snprintf(out, 4096, "%s/node_modules/tiktoken/encoders/cl100k_base.json", src ? src : ".");
    if (stat(out, &st) == 0)
        return out;
    fprintf(stderr, "no cl100k_base: neither %s/data/cl100k_base.tiktoken nor %s\n", shared_root(), out);
    return NULL;
}

/* One record per test, overwritten by each run, so a skip from an earlier run cannot linger. */
static void record_skip(const char *kind, const char *why)
{
    const char *dir = getenv("TEELM_SKIP_DIR"), *name = getenv("TEELM_TEST_NAME");
    if (!dir || !name || !*name || strchr(name, '/'))
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    (void)mkdir(dir, 0755);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "cannot record the skip in %s: %s\n", path, strerror(errno));
        return;
    }
    char line[2048];
    int n = snprintf(line, sizeof line, "%s\t", kind);
    /* one line: newlines and tabs in the reason would break the record */
    for (const char *p = why; *p && n < (int)sizeof line - 2; p++)
        line[n++] = (*p == '\n' || *p == '\t') ? ' ' : *p;
    line[n++] = '\n';
    if (write(fd, line, (size_t)n) != n)
        fprintf(stderr, "cannot record the skip in %s\n", path);
    close(fd);
}

__attribute__((noreturn)) static void skip_as(const char *kind, const char *why)
{
    printf("SKIP%s: %s\n", strcmp(kind, "shared") ? "" : " (../shared absent)", why);
    fflush(stdout);
    record_skip(kind, why);
    exit(77);
}

void test_skip(const char *why)
{
    skip_as("skip", why);
}

void test_skip_shared(const char *why)
{
    struct stat st;
    if (stat(shared_root(), &st) == 0) {
        char msg[1536];
        snprintf(msg, sizeof msg, "%s (%s exists but lacks it)", why, shared_root());
        skip_as("skip", msg);
    }
    skip_as("shared", why);
}

int test_finish(void)
{
    printf("%d checks, %d failed\n", test_checks, test_failures);
    if (test_checks == 0) {
        fprintf(stderr, "FAIL: no check ran; a test that asserts nothing has not passed\n");
        return 1;
    }
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

unsigned char *test_slurp(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *b = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len > 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)len)) &&
        fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *n = (size_t)len;
    return b;
}

const char *test_python(const char *modules)
{
    const char *py = getenv("TEELM_PYTHON");
    if (!py || !getenv("TEELM_SRC"))
        test_skip("TEELM_PYTHON/TEELM_SRC not set (run through ctest)");
    if (test_sh("'%s' -c 'import %s' 2>/dev/null", py, modules) != 0) {
        static char why[256];
        snprintf(why, sizeof why, "TEELM_PYTHON cannot import %s (scripts/install-deps.sh installs them)", modules);
        test_skip(why);
    }
    return py;
}

unsigned char *test_reference_bytes(size_t *n, const char *fmt, ...)
{
    const char *py = test_python("numpy"), *src = getenv("TEELM_SRC");
    char args[2048], out[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/reference.bin", test_tmpdir());
    unsigned char *b = NULL;
    *n = 0;
    if (test_sh("'%s' '%s/tests/reference/'%s '%s'", py, src, args, out) == 0)
        b = test_slurp(out, n);
    CHECKF(b != NULL, "tests/reference/%s gave no output", args);
    return b;
}

int test_concurrently(void *(*fn)(void *), int *bad, int n)
{
    pthread_t th[16];
    int started = 0;
    if (n > 16)
        return -1;
    while (started < n && pthread_create(&th[started], NULL, fn, &bad[started]) == 0)
        started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return started == n ? 0 : -1;
}
