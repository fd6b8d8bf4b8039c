/*
 * netaddr.c - CIDR parsing and matching for the listener's allow list.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/netaddr.h"
#include "modbus2mail/util.h"

static void	netaddr_mask(uint8_t *addr, unsigned nbytes, unsigned prefix);

/* ::ffff:a.b.c.d, an IPv4 address on an IPv6 socket */
static const uint8_t netaddr_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0xff, 0xff };

static void
netaddr_mask(uint8_t *addr, unsigned nbytes, unsigned prefix)
{
	unsigned i;

	for (i = 0; i < nbytes; i++) {
		if (prefix >= 8 * (i + 1))
			continue;
		if (prefix <= 8 * i)
			addr[i] = 0;
		else
			addr[i] &= (uint8_t)(0xff << (8 * (i + 1) - prefix));
	}
}

int
netaddr_parse_cidr(const char *s, struct netaddr_cidr *out)
{
	char buf[64];
	char *slash;
	unsigned max;
	unsigned long prefix;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	memset(out, 0, sizeof(*out));
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return -1;
	if (slash == NULL) {
		out->prefix = max;
		return 0;
	}
	if (util_parse_ulong(slash, max, &prefix) == -1)
		return -1;
	out->prefix = (unsigned)prefix;
	netaddr_mask(out->addr, max / 8, out->prefix);
	return 0;
}

int
netaddr_match(const struct netaddr_cidr *cidr, const struct sockaddr *sa)
{
	uint8_t addr[16];
	unsigned nbytes;

	if (sa->sa_family == AF_INET) {
		if (cidr->family != AF_INET)
			return 0;
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		nbytes = 4;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a6 =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		if (cidr->family == AF_INET6) {
			memcpy(addr, a6, 16);
			nbytes = 16;
		} else if (memcmp(a6, netaddr_v4mapped, 12) == 0) {
			memcpy(addr, a6 + 12, 4);
			nbytes = 4;
		} else
			return 0;
	} else
		return 0;
	netaddr_mask(addr, nbytes, cidr->prefix);
	return memcmp(addr, cidr->addr, nbytes) == 0;
}

int
netaddr_match_any(const struct netaddr_cidr *v, size_t n,
    const struct sockaddr *sa)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (netaddr_match(&v[i], sa))
			return 1;
	return 0;
}

int
netaddr_cidr_private(const struct netaddr_cidr *cidr)
{
	static const char *const nets[] = { "127.0.0.0/8", "10.0.0.0/8",
		"172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
		"169.254.0.0/16", "::1/128", "fe80::/10", "fc00::/7" };
	struct netaddr_cidr c = *cidr, net;
	uint8_t a[16];
	unsigned nbytes;
	size_t i;

	/* ::ffff:a.b.c.d/n is the IPv4 range a.b.c.d/(n-96) */
	if (c.family == AF_INET6 && c.prefix >= 96 &&
	    memcmp(c.addr, netaddr_v4mapped, 12) == 0) {
		c.family = AF_INET;
		memmove(c.addr, c.addr + 12, 4);
		c.prefix -= 96;
	}
	nbytes = c.family == AF_INET ? 4 : 16;
	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		if (netaddr_parse_cidr(nets[i], &net) == -1 ||
		    net.family != c.family || c.prefix < net.prefix)
			continue;
		/* inside net: at least as long a prefix, same leading bits */
		memcpy(a, c.addr, sizeof(a));
		netaddr_mask(a, nbytes, net.prefix);
		if (memcmp(a, net.addr, nbytes) == 0)
			return 1;
	}
	return 0;
}

int
netaddr_split_hostport(const char *s, char *host, size_t hostlen,
    unsigned *port, unsigned defport)
{
	const char *colon, *end;
	unsigned long p;
	size_t len;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return -1;
		len = (size_t)(end - s - 1);
		if (len == 0 || len >= hostlen)
			return -1;
		memcpy(host, s + 1, len);
		host[len] = '\0';
		if (end[1] == '\0') {
			*port = defport;
			return 0;
		}
		if (end[1] != ':')
			return -1;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL; /* bare IPv6 address without port */
		len = colon ? (size_t)(colon - s) : strlen(s);
		if (len == 0 || len >= hostlen)
			return -1;
		memcpy(host, s, len);
		host[len] = '\0';
		if (colon == NULL) {
			*port = defport;
			return 0;
		}
	}
	if (util_parse_ulong(colon + 1, 65535, &p) == -1 || p == 0)
		return -1;
	*port = (unsigned)p;
	return 0;
}
