/* The stateless challenge nonces (kbs/nonce.h) on a clock the test controls: issuing costs no
 * memory, a nonce is refused when forged, expired or replayed, and a full replay table forgets
 * its oldest entries without ever re-opening a replay (a watermark refuses what was forgotten). */
#include <string.h>

#include "kbs/nonce.h"
#include "test.h"

int main(void)
{
    tl_nonce_table *t = tl_nonce_table_new(4, 1000);
    CHECK(t != NULL);
    if (!t)
        return test_finish();
    uint8_t a[32], b[32];

    /* 100000 challenges on a table of 4 change nothing: no entry exists until a nonce is redeemed */
    int issued = 0;
    for (int i = 0; i < 100000; i++)
        issued += tl_nonce_issue(t, 10, a) == TL_NONCE_OK;
    CHECK(issued == 100000);
    CHECK(tl_nonce_issue(t, 10, b) == TL_NONCE_OK && memcmp(a, b, 32) != 0);
    CHECK(tl_nonce_check(t, 20, a) == TL_NONCE_OK && tl_nonce_check(t, 20, a) == TL_NONCE_OK); /* check records nothing */
    CHECK(tl_nonce_redeem(t, 20, a) == TL_NONCE_OK);
    CHECK(tl_nonce_redeem(t, 21, a) == TL_NONCE_REPLAYED && tl_nonce_check(t, 21, a) == TL_NONCE_REPLAYED);
    CHECK(tl_nonce_redeem(t, 1011, b) == TL_NONCE_EXPIRED); /* issued at 10, ttl 1000 */
    CHECK(tl_nonce_redeem(t, 1010, b) == TL_NONCE_OK);      /* the last valid ms */

    /* any changed bit (the expiry, the random part, the tag) makes it unknown; so does another
     * table's nonce (a restarted broker) */
    for (int i = 0; i < 32; i++) {
        uint8_t x[32];
        tl_nonce_issue(t, 30, x);
        x[i] ^= 1;
        CHECKF(tl_nonce_check(t, 31, x) == TL_NONCE_UNKNOWN, "bit flip in byte %d", i);
    }
    tl_nonce_table *other = tl_nonce_table_new(4, 1000);
    tl_nonce_issue(other, 30, a);
    CHECK(tl_nonce_check(t, 31, a) == TL_NONCE_UNKNOWN);
    tl_nonce_table_free(other);

    /* capacity 4: an early nonce `old`, then 5 redemptions of later ones; the 5th forgets the
     * oldest remembered entry, so everything expiring no later than it (including `old`) is now
     * refused as expired, while the remembered ones are still refused as replays */
    tl_nonce_table_free(t);
    t = tl_nonce_table_new(4, 1000);
    uint8_t old[32], n[6][32];
    tl_nonce_issue(t, 100, old);
    for (int i = 0; i < 6; i++)
        tl_nonce_issue(t, 200 + i, n[i]);
    for (int i = 0; i < 4; i++)
        CHECK(tl_nonce_redeem(t, 300, n[i]) == TL_NONCE_OK);
    CHECK(tl_nonce_forgotten(t) == 0 && tl_nonce_check(t, 300, old) == TL_NONCE_OK);
    CHECK(tl_nonce_redeem(t, 300, n[4]) == TL_NONCE_OK && tl_nonce_forgotten(t) == 1);
    CHECK(tl_nonce_check(t, 300, n[0]) == TL_NONCE_EXPIRED); /* forgotten: refused, never accepted again */
    CHECK(tl_nonce_check(t, 300, old) == TL_NONCE_EXPIRED);  /* issued before the forgotten one */
    for (int i = 1; i < 5; i++)
        CHECK(tl_nonce_redeem(t, 300, n[i]) == TL_NONCE_REPLAYED);
    CHECK(tl_nonce_redeem(t, 300, n[5]) == TL_NONCE_OK); /* issued after it: still good */

    /* expired entries leave the table without raising the watermark */
    tl_nonce_table_free(t);
    t = tl_nonce_table_new(2, 1000);
    tl_nonce_issue(t, 0, n[0]);
    tl_nonce_issue(t, 0, n[1]);
    CHECK(tl_nonce_redeem(t, 0, n[0]) == TL_NONCE_OK && tl_nonce_redeem(t, 0, n[1]) == TL_NONCE_OK);
    tl_nonce_issue(t, 1500, n[2]);
    tl_nonce_issue(t, 1500, n[3]);
    tl_nonce_issue(t, 1500, n[4]);
    CHECK(tl_nonce_redeem(t, 1600, n[2]) == TL_NONCE_OK && tl_nonce_redeem(t, 1600, n[3]) == TL_NONCE_OK);
    CHECK(tl_nonce_forgotten(t) == 0 && tl_nonce_redeem(t, 1600, n[2]) == TL_NONCE_REPLAYED);
    /* many redemptions through a small table: chains stay consistent */
    for (int i = 0; i < 5000; i++) {
        uint8_t x[32];
        tl_nonce_issue(t, 2000 + i, x);
        CHECK(tl_nonce_redeem(t, 2000 + i, x) == TL_NONCE_OK && tl_nonce_redeem(t, 2000 + i, x) == TL_NONCE_REPLAYED);
    }
    tl_nonce_table_free(t);
    return test_finish();
}
