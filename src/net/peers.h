/* Connection counts per client address, so one address cannot take every connection slot of a
 * server (src/net/server.c). Internal to src/net; loop thread only (no locking).
 *
 * An address is IPv4 (IPv4-mapped IPv6 counts as IPv4) or an IPv6 /64 prefix (one host or
 * subscriber is usually handed a whole /64). The table holds at most `capacity` distinct
 * addresses: the server's connection limit, since only admitted connections are counted. */
#ifndef TEELM_NET_PEERS_H
#define TEELM_NET_PEERS_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct {
    uint8_t b[17]; /* b[0]: 4 or 6; then the address bytes (IPv6: the /64 prefix, rest zero) */
} tl_peer_key;

typedef struct tl_peers tl_peers;

tl_peers *tl_peers_new(int capacity);
void tl_peers_free(tl_peers *p);
/* The key of a socket address; -1 for a family other than IPv4/IPv6. */
int tl_peer_key_of(const struct sockaddr *sa, socklen_t len, tl_peer_key *k);
/* Counts one more connection from k unless it already has `cap` (or the table is full): returns
 * the new count, or -1 (refused, nothing counted). */
int tl_peers_add(tl_peers *p, const tl_peer_key *k, int cap);
/* Connections currently counted for k. */
int tl_peers_count(const tl_peers *p, const tl_peer_key *k);
/* One connection from k closed. */
void tl_peers_del(tl_peers *p, const tl_peer_key *k);
/* "203.0.113.7" or "2001:db8:1:2::/64". */
void tl_peer_key_str(const tl_peer_key *k, char out[64]);

#endif
