/*
 * netaddr.h - IPv4/IPv6 CIDR parsing and matching (pure, no I/O).
 */
#ifndef MODBUS2MAIL_NETADDR_H
#define MODBUS2MAIL_NETADDR_H

#include <stdint.h>
#include <sys/socket.h>

struct netaddr_cidr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network byte order, host bits cleared */
	unsigned prefix;   /* 0..32 or 0..128 */
};

/* "192.168.1.0/24", "::1/128", or a bare address (full prefix). 0 ok, -1 bad. */
int netaddr_parse_cidr(const char *s, struct netaddr_cidr *out);
/* 1 when sa (AF_INET, AF_INET6, or v4-mapped v6) lies inside cidr. */
int netaddr_match(const struct netaddr_cidr *cidr, const struct sockaddr *sa);
/* 1 when sa matches any of the n entries. */
int netaddr_match_any(const struct netaddr_cidr *v, size_t n,
    const struct sockaddr *sa);
/*
 * 1 when the whole of cidr lies in loopback (127/8, ::1), RFC 1918,
 * RFC 6598 (100.64/10), link-local (169.254/16, fe80::/10) or ULA
 * (fc00::/7) space, v4-mapped IPv6 ranges judged as IPv4; 0 when it
 * reaches other (public) addresses.
 */
int netaddr_cidr_private(const struct netaddr_cidr *cidr);
/* Splits "host:port" / "[v6]:port" / "host" (port = defport). 0 ok, -1 bad. */
int netaddr_split_hostport(const char *s, char *host, size_t hostlen,
    unsigned *port, unsigned defport);

#endif
