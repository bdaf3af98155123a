/* util/io against a hostile host that can write the directories teelm writes to and replace
 * the files it reads:
 *  - tl_write_file_atomic never uses a file or symlink planted at the old predictable temporary
 *    name PATH.tmp.<pid>: the victim a link points to is untouched, the result is owned by us with
 *    exactly the mode asked for (0600 for secrets), and nothing is left behind;
 *  - a symlink at the final path is replaced, never written through;
 *  - readers refuse a FIFO (without hanging: the open is non-blocking), a directory, a socket;
 *  - tl_read_secret_file refuses a file its group or others may access, telling to chmod 600. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <dirent.h>

#include "formats/checkpoint.h"
#include "model/config.h"
#include "test.h"
#include "util/io.h"

static char dir[2048];

static const char *at(const char *name)
{
    static char buf[8][4096];
    static int slot;
    char *out = buf[slot++ % 8];
    snprintf(out, 4096, "%s/%s", dir, name);
    return out;
}

static void put(const char *path, const char *text, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(1);
    }
    fchmod(fd, (mode_t)mode);
    close(fd);
}

static int same_text(const char *path, const char *want)
{
    uint8_t *d = NULL;
    size_t n = 0;
    tl_err e = {0};
    int ok = tl_read_file(path, 1 << 20, &d, &n, &e) == 0 && n == strlen(want) && memcmp(d, want, n) == 0;
    free(d);
    return ok;
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_planted_temporaries(void)
{
    char planted[4096];
    tl_err e = {0};
    struct stat st;
    /* a symlink at the old temporary name, pointing outside */
    put(at("victim"), "original", 0644);
    snprintf(planted, sizeof planted, "%s.tmp.%ld", at("weights"), (long)getpid());
    CHECK(symlink(at("victim"), planted) == 0);
    CHECKF(tl_write_file_atomic(at("weights"), "plaintext", 9, 0600, &e) == 0, "%s", e.msg);
    CHECKF(same_text(at("victim"), "original"), "the write followed a planted symlink");
    CHECK(lstat(at("weights"), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
    CHECK(st.st_uid == geteuid());
    CHECK(same_text(at("weights"), "plaintext"));

    /* a world-writable file at the old temporary name, owned by another user when we can arrange it */
    snprintf(planted, sizeof planted, "%s.tmp.%ld", at("key"), (long)getpid());
    put(planted, "", 0666);
    int other = geteuid() == 0 && chown(planted, 65534, 65534) == 0;
    CHECKF(tl_write_file_atomic(at("key"), "secret", 6, 0600, &e) == 0, "%s", e.msg);
    CHECK(lstat(at("key"), &st) == 0 && S_ISREG(st.st_mode));
    CHECKF((st.st_mode & 0777) == 0600, "mode %o", (unsigned)(st.st_mode & 0777));
    CHECKF(st.st_uid == geteuid(), "the result belongs to uid %u (planted file reused)", (unsigned)st.st_uid);
    CHECK(lstat(planted, &st) == 0 && st.st_size == 0); /* the planted file is left alone, empty */
    if (!other)
        printf("note: not root, the planted file is our own (mode 0666 still checked)\n");
    /* victim, weights, weights' planted link, key, key's planted file: no temporary left behind */
    CHECKF(entries() == 5, "%d entries", entries());

    /* a symlink at the final path is replaced, not written through */
    put(at("victim2"), "original", 0644);
    CHECK(symlink(at("victim2"), at("out")) == 0);
    CHECK(tl_write_file_atomic(at("out"), "new", 3, 0644, &e) == 0);
    CHECK(same_text(at("victim2"), "original"));
    CHECK(lstat(at("out"), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644);

    /* the mode is exact, whatever the umask */
    mode_t old = umask(077);
    CHECK(tl_write_file_atomic(at("public"), "x", 1, 0644, &e) == 0);
    CHECK(stat(at("public"), &st) == 0 && (st.st_mode & 0777) == 0644);
    umask(old);

    /* a streamed write that is abandoned leaves nothing */
    int before = entries();
    tl_atomic_file f;
    CHECK(tl_atomic_open(&f, at("partial"), 0600, &e) == 0 && tl_atomic_write(&f, "abc", 3, &e) == 0);
    CHECK(entries() == before + 1);
    tl_atomic_abort(&f);
    CHECK(entries() == before && access(at("partial"), F_OK) != 0);
}

/* What unseal writes: the plaintext weights through the safetensors writer. */
static void test_checkpoint_save_planted(void)
{
    tl_config cfg = tl_config_seed(64);
    tl_checkpoint ck;
    tl_err e = {0};
    CHECKF(tl_checkpoint_alloc(&ck, &cfg, 0, &e) == 0, "%s", e.msg);
    char sub[4096], planted[4200], victim[4096];
    snprintf(sub, sizeof sub, "%s", at("ckpt"));
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(victim, sizeof victim, "%s", at("victim3"));
    put(victim, "original", 0644);
    snprintf(planted, sizeof planted, "%s/model.safetensors.tmp.%ld", sub, (long)getpid());
    CHECK(symlink(victim, planted) == 0);
    CHECKF(tl_checkpoint_save(sub, &ck, TL_LAYOUT_FULL, &e) == 0, "%s", e.msg);
    CHECKF(same_text(victim, "original"), "the weights were written through a planted symlink");
    struct stat st;
    snprintf(planted, sizeof planted, "%s/model.safetensors", sub);
    CHECK(lstat(planted, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600 && st.st_uid == geteuid());
    tl_checkpoint_free(&ck);
}

static void test_not_regular(void)
{
    tl_err e = {0};
    uint8_t *d = NULL;
    size_t n = 0;
    CHECK(mkfifo(at("fifo"), 0600) == 0);
    /* with a blocking open this call never returns (no writer): the alarm in main turns that
     * regression into a failure instead of a hang */
    CHECK(tl_read_file(at("fifo"), 100, &d, &n, &e) == TL_EINVAL);
    CHECKF(strstr(e.msg, "fifo") && strstr(e.msg, "not a regular file") && strstr(e.msg, at("fifo")), "%s", e.msg);
    CHECK(tl_read_secret_file(at("fifo"), 100, &d, &n, &e) == TL_EINVAL && strstr(e.msg, "a fifo"));
    CHECK(tl_open_regular(at("fifo"), &e) < 0 && strstr(e.msg, "a fifo"));
    CHECK(tl_read_file(dir, 100, &d, &n, &e) == TL_EINVAL && strstr(e.msg, "a directory"));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at("sock"));
    if (s >= 0 && strlen(at("sock")) < sizeof sa.sun_path && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0)
        CHECKF(tl_read_file(at("sock"), 100, &d, &n, &e) != 0 && strstr(e.msg, "not a regular file"), "%s", e.msg);
    if (s >= 0)
        close(s);
    CHECK(tl_read_file(at("absent"), 100, &d, &n, &e) == TL_ENOTFOUND);
    CHECK(d == NULL);
    /* a regular file reads normally, and its descriptor is blocking again */
    put(at("plain"), "hello", 0644);
    int fd = tl_open_regular(at("plain"), &e);
    CHECK(fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK));
    if (fd >= 0)
        close(fd);
}

static void test_secret_files(void)
{
    tl_err e = {0};
    uint8_t *d = NULL;
    size_t n = 0;
    static const int open_modes[] = {0644, 0640, 0604, 0660, 0602};
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        put(at("token"), "abc", open_modes[i]);
        memset(&e, 0, sizeof e);
        CHECKF(tl_read_secret_file(at("token"), 100, &d, &n, &e) == TL_EINVAL && strstr(e.msg, "chmod 600") &&
                   strstr(e.msg, at("token")) && !strstr(e.msg, "abc"),
               "mode %o: %s", (unsigned)open_modes[i], e.msg);
        CHECK(d == NULL);
    }
    put(at("token"), "abc", 0600);
    CHECK(tl_read_secret_file(at("token"), 100, &d, &n, &e) == 0 && n == 3 && memcmp(d, "abc", 3) == 0);
    free(d);
    put(at("token"), "abc", 0400);
    d = NULL;
    CHECK(tl_read_secret_file(at("token"), 100, &d, &n, &e) == 0 && n == 3);
    free(d);
}

int main(void)
{
    alarm(120); /* a hang (a blocking open of a FIFO) kills the test rather than the CI job */
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    test_planted_temporaries();
    test_checkpoint_save_planted();
    test_not_regular();
    test_secret_files();
    test_sh("rm -rf '%s'", dir);
    return test_finish();
}
