/* The per-address connection table and the rate-limited log counter of src/net. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/peers.h"
#include "net/ratelog.h"
#include "test.h"

static tl_peer_key v4(const char *a)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &sa.sin_addr);
    tl_peer_key k;
    CHECK(tl_peer_key_of((struct sockaddr *)&sa, sizeof sa, &k) == 0);
    return k;
}

static tl_peer_key v6(const char *a)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, a, &sa.sin6_addr);
    tl_peer_key k;
    CHECK(tl_peer_key_of((struct sockaddr *)&sa, sizeof sa, &k) == 0);
    return k;
}

int main(void)
{
    tl_peers *p = tl_peers_new(4);
    CHECK(p != NULL);
    tl_peer_key a = v4("127.0.0.2"), b = v4("127.0.0.1");
    /* a per-address cap of 2 within a table of 4 */
    CHECK(tl_peers_add(p, &a, 2) == 1);
    CHECK(tl_peers_add(p, &a, 2) == 2);
    CHECK(tl_peers_add(p, &a, 2) == -1);
    CHECK(tl_peers_count(p, &a) == 2);
    CHECK(tl_peers_add(p, &b, 2) == 1);
    tl_peers_del(p, &a);
    CHECK(tl_peers_count(p, &a) == 1);
    CHECK(tl_peers_add(p, &a, 2) == 2);
    /* the table holds at most 4 addresses; freed entries are reused */
    tl_peer_key c = v4("10.0.0.1"), d = v4("10.0.0.2"), e = v4("10.0.0.3");
    CHECK(tl_peers_add(p, &c, 2) == 1);
    CHECK(tl_peers_add(p, &d, 2) == 1);
    CHECK(tl_peers_add(p, &e, 2) == -1);
    tl_peers_del(p, &c);
    CHECK(tl_peers_count(p, &c) == 0);
    CHECK(tl_peers_add(p, &e, 2) == 1);
    CHECK(tl_peers_count(p, &d) == 1 && tl_peers_count(p, &b) == 1);
    /* IPv4-mapped IPv6 is the IPv4 address; IPv6 counts by /64 */
    tl_peer_key m = v6("::ffff:127.0.0.2");
    CHECK(memcmp(&m, &a, sizeof m) == 0);
    tl_peer_key x = v6("2001:db8:1:2::1"), y = v6("2001:db8:1:2:ffff::9"), z = v6("2001:db8:1:3::1");
    CHECK(memcmp(&x, &y, sizeof x) == 0);
    CHECK(memcmp(&x, &z, sizeof x) != 0);
    char buf[64];
    tl_peer_key_str(&x, buf);
    CHECK(strcmp(buf, "2001:db8:1:2::/64") == 0);
    tl_peer_key_str(&a, buf);
    CHECK(strcmp(buf, "127.0.0.2") == 0);
    struct sockaddr un = {.sa_family = AF_UNIX};
    tl_peer_key k;
    CHECK(tl_peer_key_of(&un, sizeof un, &k) == -1);
    tl_peers_free(p);
    CHECK(tl_peers_new(0) == NULL);

    /* rate-limited log: one line a second, the rest counted and handed over */
    tl_ratelog r = {0};
    unsigned long held = 99;
    CHECK(tl_ratelog_event(&r, 100.0, 1.0, &held) == 1 && held == 0);
    for (int i = 0; i < 50; i++)
        CHECK(tl_ratelog_event(&r, 100.0 + i * 0.01, 1.0, &held) == 0);
    CHECK(tl_ratelog_event(&r, 101.0, 1.0, &held) == 1 && held == 50);
    CHECK(tl_ratelog_event(&r, 101.5, 1.0, &held) == 0);
    CHECK(tl_ratelog_take(&r, 102.0) == 1);
    CHECK(tl_ratelog_take(&r, 102.0) == 0);
    CHECK(tl_ratelog_event(&r, 102.5, 1.0, &held) == 0); /* the summary line counts as a line */
    CHECK(tl_ratelog_event(&r, 103.0, 1.0, &held) == 1 && held == 1);
    return test_finish();
}
