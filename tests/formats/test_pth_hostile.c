/* The .pth reader: hostile pickles (os.system via __reduce__, eval, unknown or unsupported opcodes,
 * malformed streams), zips with compressed or missing entries, legacy files and views outside their
 * storage are refused with messages naming the opcode, global, entry or tensor; nothing is executed.
 * Strided views and float16/bfloat16/int64 storages are read exactly. The hostile .pth files are made
 * by tests/reference/weights_ref.py with Python's pickle and torch.save. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "formats/import.h"
#include "formats/checkpoint.h"
#include "formats/pickle.h"
#include "formats/pth.h"
#include "test.h"

static int refuse_pkl(const char *what, const void *p, size_t n, const char *needle)
{
    tl_pk_state_dict sd;
    tl_err err = {0};
    if (tl_pickle_state_dict(p, n, "x.pth", &sd, &err) == 0) {
        fprintf(stderr, "%s: accepted\n", what);
        tl_pk_state_dict_free(&sd);
        return 0;
    }
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "%s: message '%s' lacks '%s'\n", what, err.msg, needle);
        return 0;
    }
    return 1;
}

static int refuse_pth(const char *dir, const char *file, const char *needle)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tl_pth_file f;
    tl_err err = {0};
    if (tl_pth_open(path, &f, &err) == 0) {
        fprintf(stderr, "%s: accepted\n", file);
        tl_pth_close(&f);
        return 0;
    }
    if (!strstr(err.msg, needle) || !strstr(err.msg, path)) {
        fprintf(stderr, "%s: message '%s' lacks '%s' or the path\n", file, err.msg, needle);
        return 0;
    }
    return 1;
}

#define PKL(s) s, sizeof(s) - 1

static void hand_made(void)
{
    /* a minimal valid state_dict: {'w': tensor of 2 floats} */
    static const char ok[] = "\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
                             "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x02tQK\x00K\x02\x85K\x01\x85"
                             "\x89}tRs.";
    tl_pk_state_dict sd;
    tl_err err = {0};
    CHECKF(tl_pickle_state_dict((const uint8_t *)ok, sizeof ok - 1, "x.pth", &sd, &err) == 0, "%s", err.msg);
    CHECK(sd.n == 1 && !strcmp(sd.t[0].name, "w") && sd.t[0].numel == 2 && sd.t[0].dtype == TL_DT_F32 &&
          !strcmp(sd.t[0].storage_key, "0"));
    tl_pk_state_dict_free(&sd);

    CHECK(refuse_pkl("os.system", PKL("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00id\x85R."), "refused pickle global 'posix.system'"));
    CHECK(refuse_pkl("os.system (nt)", PKL("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00id\x85R."), "refused pickle global 'os.system'"));
    CHECK(refuse_pkl("subprocess", PKL("\x80\x02" "csubprocess\nPopen\n."), "subprocess.Popen"));
    CHECK(refuse_pkl("INST", PKL("\x80\x02(X\x02\x00\x00\x00idios\nsystem\n."), "opcode 0x69 (INST)"));
    CHECK(refuse_pkl("OBJ", PKL("\x80\x02(o."), "opcode 0x6f (OBJ)"));
    CHECK(refuse_pkl("STACK_GLOBAL", PKL("\x80\x02X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93."), "opcode 0x93 (STACK_GLOBAL)"));
    CHECK(refuse_pkl("NEWOBJ", PKL("\x80\x02)\x81."), "opcode 0x81 (NEWOBJ)"));
    CHECK(refuse_pkl("EXT1", PKL("\x80\x02\x82\x01."), "opcode 0x82 (EXT1)"));
    CHECK(refuse_pkl("text PERSID", PKL("\x80\x02P0\n."), "opcode 0x50 (PERSID)"));
    CHECK(refuse_pkl("unknown opcode", PKL("\x80\x02\xff."), "opcode 0xff (unknown)"));
    CHECK(refuse_pkl("protocol 4", PKL("\x80\x04}."), "pickle protocol 4 is not supported"));
    CHECK(refuse_pkl("calling a storage type", PKL("\x80\x02" "ctorch\nFloatStorage\n)R."), "a storage type cannot be called"));
    CHECK(refuse_pkl("OrderedDict with args", PKL("\x80\x02" "ccollections\nOrderedDict\n]\x85R."), "OrderedDict() with arguments"));
    CHECK(refuse_pkl("undefined memo", PKL("\x80\x02h\x05."), "memo entry is not defined"));
    CHECK(refuse_pkl("huge memo index", PKL("\x80\x02}r\xff\xff\xff\xff."), "memo index too large"));
    CHECK(refuse_pkl("stack underflow", PKL("\x80\x02s."), "stack underflow"));
    CHECK(refuse_pkl("underflow below mark", PKL("\x80\x02}(s."), "stack underflow"));
    CHECK(refuse_pkl("truncated string", PKL("\x80\x02X\xff\xff\xff\x7f" "abc"), "truncated pickle"));
    CHECK(refuse_pkl("no STOP", PKL("\x80\x02}"), "ends without STOP"));
    CHECK(refuse_pkl("data after STOP", PKL("\x80\x02}.}"), "data after STOP"));
    CHECK(refuse_pkl("empty", "", 0, "ends without STOP"));
    CHECK(refuse_pkl("LONG1 too wide", PKL("\x80\x02\x8a\x09" "123456789."), "LONG1"));
    CHECK(refuse_pkl("root not a dict", PKL("\x80\x02]."), "does not hold a dict"));
    CHECK(refuse_pkl("value not a tensor", PKL("\x80\x02}X\x01\x00\x00\x00wK\x01s."), "entry 'w' is not a tensor"));
    CHECK(refuse_pkl("key not a string", PKL("\x80\x02}K\x01K\x01s."), "key #0 is not a string"));
    CHECK(refuse_pkl("BUILD on a list", PKL("\x80\x02]}b."), "BUILD is only accepted"));
    CHECK(refuse_pkl("bad persistent id", PKL("\x80\x02X\x01\x00\x00\x00xQ."), "persistent id must be"));
    CHECK(refuse_pkl("path in storage key",
                     PKL("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x04\x00\x00\x00../0X\x03\x00\x00\x00" "cpuK\x02tQ."),
                     "storage key must be"));
    /* duplicate key and a view outside its storage, built from the valid one */
    char dup[512];
    size_t n = sizeof ok - 1 - 1; /* drop STOP */
    memcpy(dup, ok, n);
    memcpy(dup + n, ok + 3, sizeof ok - 1 - 3 - 2); /* key + value again */
    n += sizeof ok - 1 - 3 - 2;
    memcpy(dup + n, "s.", 2);
    CHECK(refuse_pkl("duplicate key", dup, n + 2, "'w' appears twice"));
    char view[512];
    memcpy(view, ok, sizeof ok - 1);
    char *off = memmem(view, sizeof ok - 1, "K\x00K\x02\x85", 5);
    CHECK(off != NULL);
    if (off) {
        off[1] = 1; /* storage offset 1 + 2 elements > storage of 2 */
        CHECK(refuse_pkl("view past the storage", view, sizeof ok - 1, "does not fit in its storage of 2 elements"));
    }
    if (off) {
        memcpy(view, ok, sizeof ok - 1);
        off[1] = 0, off[3] = 4, off[6] = 0; /* size 4 with stride 0: an expanded view of 2 elements */
        CHECK(refuse_pkl("expanded view", view, sizeof ok - 1, "more than its storage of 2"));
    }
    /* an empty view whose other sizes are huge (0 x 2^40 x 2^40 over a storage of 0 elements) is valid;
     * the contiguity check used to multiply the sizes and overflow int64 (found by reading the code
     * while adding the structure-aware pth fuzzer; UBSan in the ASan build aborts on it) */
    static const char empty[] = "\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
                                "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x00tQK\x00"
                                "K\x00\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x06\x00\x00\x00\x00\x00\x01\x87"
                                "K\x00\x8a\x06\x00\x00\x00\x00\x00\x01K\x01\x87\x89}tRs.";
    CHECKF(tl_pickle_state_dict((const uint8_t *)empty, sizeof empty - 1, "x.pth", &sd, &err) == 0, "%s", err.msg);
    CHECK(sd.n == 1 && sd.t[0].numel == 0 && sd.t[0].ndim == 3 && sd.t[0].size[1] == (int64_t)1 << 40 &&
          tl_pk_contiguous(&sd.t[0]));
    tl_pk_state_dict_free(&sd);
    /* empty SETITEMS/TUPLE marks, also before anything was pushed: accepted, an empty state_dict (they used
     * to do NULL + 0 pointer arithmetic and memcpy(NULL, .., 0), which UBSan aborts on; found by the
     * structure-aware fuzz_pth) */
    CHECKF(tl_pickle_state_dict((const uint8_t *)PKL("\x80\x02}(u."), "x.pth", &sd, &err) == 0, "%s", err.msg);
    CHECK(sd.n == 0);
    tl_pk_state_dict_free(&sd);
    CHECKF(tl_pickle_state_dict((const uint8_t *)PKL("\x80\x02(t]()e}(u."), "x.pth", &sd, &err) == 0, "%s", err.msg);
    CHECK(sd.n == 0);
    tl_pk_state_dict_free(&sd);
    CHECK(refuse_pkl("empty SETITEMS with no dict", PKL("\x80\x02(u."), "stack underflow"));
    /* deeply nested marks and tuples are data, not recursion: no stack overflow */
    static char deep[400002];
    deep[0] = '\x80', deep[1] = 2;
    memset(deep + 2, '(', 200000);
    memset(deep + 200002, 't', 200000);
    CHECK(refuse_pkl("deep nesting", deep, sizeof deep, "ends without STOP"));
}

int main(void)
{
    hand_made();

    const char *py = test_python("torch"), *src = getenv("TEELM_SRC"); /* torch writes the files */
    const char *tmp = test_tmpdir();
    unlink("/tmp/teelm-pwned");
    CHECK(test_sh("%s %s/tests/reference/weights_ref.py hostile %s", py, src, tmp) == 0);
    CHECK(refuse_pth(tmp, "evil_system.pth", "refused pickle global 'posix.system'"));
    CHECK(refuse_pth(tmp, "evil_eval.pth", "refused pickle global 'builtins.eval'"));
    CHECK(refuse_pth(tmp, "evil_opcode.pth", "unsupported pickle opcode 0xff"));
    CHECK(refuse_pth(tmp, "compressed.pth", "is compressed (method 8)"));
    CHECK(refuse_pth(tmp, "missing.pth", "zip entry 'archive/data/0' (storage of tensor 'weight') is missing"));
    CHECK(refuse_pth(tmp, "legacy.pth", "legacy torch.save format; re-save with torch.save(..., _use_new_zipfile_serialization=True)"));
    CHECK(refuse_pth(tmp, "short_storage.pth", "has 12 bytes, its 6 F32 elements need 24"));
    CHECK(refuse_pth(tmp, "bad_view.pth", "does not fit in its storage"));
    CHECK(access("/tmp/teelm-pwned", F_OK) != 0);

    /* import of a hostile file fails cleanly and writes nothing */
    char out[512], in[512];
    snprintf(out, sizeof out, "%s/out", tmp);
    snprintf(in, sizeof in, "%s/evil_system.pth", tmp);
    const char *srcs[1] = {in};
    tl_import_report rep;
    tl_err err = {0};
    CHECK(tl_import_pth(srcs, 1, out, TL_LAYOUT_FULL, &rep, &err) != 0 && strstr(err.msg, "posix.system"));
    CHECK(access(out, F_OK) != 0);

    /* views and dtypes are read exactly */
    char path[512];
    snprintf(path, sizeof path, "%s/views.pth", tmp);
    tl_pth_file f;
    CHECKF(tl_pth_open(path, &f, &err) == 0, "%s", err.msg);
    for (int i = 0; i < f.sd.n; i++) {
        const tl_pk_tensor *t = &f.sd.t[i];
        float v[8] = {0};
        CHECKF(tl_pth_read_f32(&f, i, v, &err) == 0, "%s", err.msg);
        if (!strcmp(t->name, "t")) /* arange(6).reshape(2,3).t() */
            CHECK(!tl_pk_contiguous(t) && t->size[0] == 3 && t->size[1] == 2 && v[0] == 0 && v[1] == 3 && v[2] == 1 &&
                  v[3] == 4 && v[4] == 2 && v[5] == 5);
        else if (!strcmp(t->name, "h"))
            CHECK(t->dtype == TL_DT_F16 && v[0] == 1.5f && v[1] == -2.0f && v[2] == 65504.0f);
        else if (!strcmp(t->name, "b"))
            CHECK(t->dtype == TL_DT_BF16 && v[0] == 1.0f && v[1] == -3.25f);
        else if (!strcmp(t->name, "l"))
            CHECK(t->dtype == TL_DT_I64 && v[0] == 7.0f && v[1] == -9.0f);
        else
            CHECKF(0, "unexpected tensor %s", t->name);
    }
    CHECK(f.sd.n == 4);
    tl_pth_close(&f);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
