/* Per-address connection counts (peers.h). A plain array scanned linearly: it holds at most the
 * server's connection limit of entries and is touched once per accept and once per close. */
#include "net/peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tl_peer_key k;
    int count; /* 0: free entry */
} entry;

struct tl_peers {
    entry *e;
    int cap, used; /* used: entries in use are e[0..used) */
};

tl_peers *tl_peers_new(int capacity)
{
    tl_peers *p = calloc(1, sizeof *p);
    if (!p || capacity < 1 || !(p->e = calloc((size_t)capacity, sizeof *p->e))) {
        free(p);
        return NULL;
    }
    p->cap = capacity;
    return p;
}

void tl_peers_free(tl_peers *p)
{
    if (p)
        free(p->e);
    free(p);
}

int tl_peer_key_of(const struct sockaddr *sa, socklen_t len, tl_peer_key *k)
{
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        k->b[0] = 4;
        memcpy(k->b + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            k->b[0] = 4;
            memcpy(k->b + 1, a->s6_addr + 12, 4);
        } else {
            k->b[0] = 6;
            memcpy(k->b + 1, a->s6_addr, 8);
        }
        return 0;
    }
    return -1;
}

static entry *find(const tl_peers *p, const tl_peer_key *k)
{
    for (int i = 0; i < p->used; i++)
        if (!memcmp(&p->e[i].k, k, sizeof *k))
            return &p->e[i];
    return NULL;
}

int tl_peers_add(tl_peers *p, const tl_peer_key *k, int cap)
{
    entry *e = find(p, k);
    if (!e) {
        if (p->used == p->cap || cap < 1)
            return -1;
        e = &p->e[p->used++];
        e->k = *k;
        e->count = 0;
    }
    if (e->count >= cap)
        return -1;
    return ++e->count;
}

int tl_peers_count(const tl_peers *p, const tl_peer_key *k)
{
    const entry *e = find(p, k);
    return e ? e->count : 0;
}

void tl_peers_del(tl_peers *p, const tl_peer_key *k)
{
    entry *e = find(p, k);
    if (!e || --e->count > 0)
        return;
    *e = p->e[--p->used]; /* keep the used entries contiguous */
}

void tl_peer_key_str(const tl_peer_key *k, char out[64])
{
    uint8_t a[16] = {0};
    memcpy(a, k->b + 1, k->b[0] == 4 ? 4 : 8);
    char buf[INET6_ADDRSTRLEN] = "?";
    inet_ntop(k->b[0] == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf);
    snprintf(out, 64, "%s%s", buf, k->b[0] == 6 ? "/64" : "");
}
