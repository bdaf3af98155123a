/* The key store's integrity on its own (no broker): generations, the manifest's authentication,
 * the upgrade of a previous-version store, revocation of a damaged record, and concurrent writers
 * (the lock). Tampering through a running broker is in test_kbs_protocol.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kbs/store.h"
#include "test.h"
#include "util/io.h"

static uint64_t generation(const char *store)
{
    tl_kbs_record *r = NULL;
    int n = 0;
    uint64_t g = 0;
    tl_err e = {0};
    if (tl_kbs_store_list(store, &r, &n, &g, &e))
        fprintf(stderr, "list: %s\n", e.msg);
    for (int i = 0; i < n; i++)
        tl_kbs_record_free(&r[i]);
    free(r);
    return g;
}

static int count_problems(const char *store, int *total)
{
    tl_kbs_record *r = NULL;
    int n = 0, bad = 0;
    tl_err e = {0};
    if (tl_kbs_store_list(store, &r, &n, NULL, &e))
        return -1;
    for (int i = 0; i < n; i++) {
        bad += r[i].problem[0] != 0;
        tl_kbs_record_free(&r[i]);
    }
    free(r);
    *total = n;
    return bad;
}

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"

int main(void)
{
    const char *tmp = test_tmpdir();
    char store[4096], p[4200];
    snprintf(store, sizeof store, "%s/store", tmp);
    tl_err e = {0};
    tl_data_key k1, k2, got;
    tl_kbs_record rec;
    CHECK(tl_data_key_generate(&k1, "k1", &e) == 0 && tl_data_key_generate(&k2, "k2", &e) == 0);

    /* generations: 0 when created, +1 for each add and revoke */
    CHECK(tl_kbs_store_init(store, &e) == 0 && generation(store) == 0);
    CHECK(tl_kbs_store_add(store, &k1, NULL, &e) == 0 && generation(store) == 1);
    CHECKF(tl_kbs_store_add(store, &k2, "{\"allow_simulation\":true,\"mrenclave\":\"" Z64 "\"}", &e) == 0 &&
               generation(store) == 2,
           "%s", e.msg);
    CHECK(tl_kbs_store_get(store, "k1", &rec, &got, &e) == 0 && rec.generation == 1 && rec.store_generation == 2 &&
          memcmp(&got, &k1, sizeof got) == 0);
    tl_kbs_record_free(&rec);
    tl_data_key_clear(&got);
    CHECK(tl_kbs_store_get(store, "nope", &rec, &got, &e) == TL_ENOTFOUND);

    /* the manifest's generation edited: it no longer authenticates */
    snprintf(p, sizeof p, "%s/manifest.json", store);
    test_sh("cp %s %s.good && sed -i 's/\"generation\": 2,/\"generation\": 9,/' %s", p, p, p);
    CHECK(tl_kbs_store_get(store, "k1", &rec, &got, &e) == TL_ECRYPTO && strstr(e.msg, "does not authenticate"));
    CHECK(tl_kbs_store_add(store, &k1, NULL, &e) != 0); /* nor does a writer bless it */
    test_sh("cp %s.good %s", p, p);

    /* revoking a damaged record still revokes it */
    snprintf(p, sizeof p, "%s/keys/k2.json", store);
    test_sh("echo garbage > %s", p);
    CHECK(tl_kbs_store_get(store, "k2", &rec, &got, &e) == TL_ECRYPTO);
    CHECK(tl_kbs_store_revoke(store, "k2", &e) == 0 && generation(store) == 3);
    CHECK(tl_kbs_store_get(store, "k2", &rec, &got, &e) == TL_ESTATE && rec.revoked);
    tl_kbs_record_free(&rec);
    CHECK(tl_kbs_store_add(store, &k2, NULL, &e) == TL_ESTATE); /* the id stays taken */

    /* a previous-version store (records, no manifest) is refused until upgraded */
    snprintf(p, sizeof p, "%s/manifest.json", store);
    unlink(p);
    CHECK(tl_kbs_store_init(store, &e) == TL_EUNSUPPORTED && strstr(e.msg, "teelm kbs upgrade --store"));
    CHECK(tl_kbs_store_get(store, "k1", &rec, &got, &e) == TL_EUNSUPPORTED);
    tl_kbs_record *list = NULL;
    int n = 0;
    CHECK(tl_kbs_store_upgrade(store, 1, &list, &n, &e) == 0 && n == 2 && !tl_is_file(p));
    for (int i = 0; i < n; i++)
        tl_kbs_record_free(&list[i]);
    free(list);
    /* ... a record the upgrade cannot vouch for stops it: a revoked record still holding key
     * material, a policy that does not parse */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/keys/k3.json", store);
    test_sh("sed 's/\"k1\"/\"k3\"/; s/\"revoked\": false/\"revoked\": true/' %s/keys/k1.json > %s", store, bad);
    CHECK(tl_kbs_store_upgrade(store, 0, &list, &n, &e) == TL_EINVAL && strstr(e.msg, "revoked but still holds"));
    test_sh("printf '{\"version\":1,\"key_id\":\"k3\",\"revoked\":true,\"policy\":{\"bogus\":1}}' > %s", bad);
    CHECK(tl_kbs_store_upgrade(store, 0, &list, &n, &e) != 0 && strstr(e.msg, "k3.json: policy"));
    unlink(bad);
    CHECK(tl_kbs_store_upgrade(store, 0, &list, &n, &e) == 0 && n == 2 && tl_is_file(p));
    for (int i = 0; i < n; i++)
        tl_kbs_record_free(&list[i]);
    free(list);
    CHECK(generation(store) == 1);
    CHECK(tl_kbs_store_get(store, "k1", &rec, &got, &e) == 0 && memcmp(&got, &k1, sizeof got) == 0);
    tl_kbs_record_free(&rec);
    tl_data_key_clear(&got);
    CHECK(tl_kbs_store_get(store, "k2", &rec, &got, &e) == TL_ESTATE);
    tl_kbs_record_free(&rec);
    CHECK(tl_kbs_store_upgrade(store, 0, &list, &n, &e) == TL_ESTATE);

    /* two processes adding 20 keys each at once: every add lands, the manifest lists all */
    pid_t kids[2];
    for (int c = 0; c < 2; c++) {
        if ((kids[c] = fork()) == 0) {
            int fails = 0;
            for (int i = 0; i < 20; i++) {
                char id[32];
                tl_data_key k;
                snprintf(id, sizeof id, "c%d-%02d", c, i);
                fails += tl_data_key_generate(&k, id, &e) != 0 || tl_kbs_store_add(store, &k, NULL, &e) != 0;
                tl_data_key_clear(&k);
            }
            _exit(fails ? 1 : 0);
        }
    }
    for (int c = 0; c < 2; c++) {
        int st = 0;
        waitpid(kids[c], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int total = 0;
    CHECK(count_problems(store, &total) == 0 && total == 42 && generation(store) == 41);

    tl_data_key_clear(&k1);
    tl_data_key_clear(&k2);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
