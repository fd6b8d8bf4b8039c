/*
 * Unit tests for netaddr.c: CIDR parsing, matching, private ranges,
 * host:port splitting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "modbus2mail/netaddr.h"

/* 1 when the address ip (v4 or v6 text) lies inside cidr. */
static int
match(const char *cidr, const char *ip)
{
	struct netaddr_cidr c;
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	struct sockaddr *sa;

	assert_int_equal(netaddr_parse_cidr(cidr, &c), 0);
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	sin.sin_family = AF_INET;
	sin6.sin6_family = AF_INET6;
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		sa = (struct sockaddr *)&sin;
	else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		sa = (struct sockaddr *)&sin6;
	}
	return netaddr_match(&c, sa);
}

static void
test_v4(void **state)
{
	(void)state;
	assert_true(match("192.168.1.0/24", "192.168.1.77"));
	assert_false(match("192.168.1.0/24", "192.168.2.1"));
	assert_true(match("127.0.0.1/32", "127.0.0.1"));
	assert_false(match("127.0.0.1/32", "127.0.0.2"));
	assert_true(match("127.0.0.1", "127.0.0.1"));
	assert_true(match("0.0.0.0/0", "8.8.8.8"));
	assert_true(match("10.1.2.3/20", "10.1.15.255")); /* host bits cleared */
	assert_false(match("10.1.2.3/20", "10.1.16.0"));
}

static void
test_v6(void **state)
{
	(void)state;
	assert_true(match("::1/128", "::1"));
	assert_false(match("::1/128", "::2"));
	assert_true(match("fd00::/8", "fd12:3456::1"));
	assert_false(match("fd00::/8", "fe80::1"));
	/* v4-mapped client against a v4 rule (dual-stack socket) */
	assert_true(match("192.168.1.0/24", "::ffff:192.168.1.5"));
	assert_false(match("192.168.1.0/24", "::ffff:192.168.9.5"));
	/* a v6 rule never matches a v4 client */
	assert_false(match("::/0", "1.2.3.4"));
}

static void
test_bad(void **state)
{
	struct netaddr_cidr c;
	static const char *bad[] = { "", "1.2.3", "1.2.3.4/33", "::1/129",
		"1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/8x", "host/8", NULL };
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(netaddr_parse_cidr(bad[i], &c), -1);
}

static int
private(const char *cidr)
{
	struct netaddr_cidr c;

	assert_int_equal(netaddr_parse_cidr(cidr, &c), 0);
	return netaddr_cidr_private(&c);
}

static void
test_private(void **state)
{
	static const char *const inside[] = { "127.0.0.1", "127.0.0.0/8",
		"10.0.0.0/8", "10.20.30.0/24", "172.16.0.0/12",
		"172.31.255.255", "192.168.0.0/16", "192.168.1.0/24",
		"100.64.0.0/10", "100.127.0.0/16", "169.254.0.0/16", "::1",
		"::1/128", "fe80::/10", "fe80::1/64", "fc00::/7", "fd12::/16",
		"::ffff:192.168.1.0/120", "::ffff:10.0.0.0/104", NULL };
	static const char *const outside[] = { "0.0.0.0/0", "::/0",
		"8.8.8.8", "1.0.0.0/8", "0.0.0.0/1", "126.0.0.0/7",
		"10.0.0.0/7", "172.16.0.0/11", "172.32.0.0/16",
		"192.168.0.0/15", "100.64.0.0/9", "100.128.0.0/16",
		"169.254.0.0/15", "::/127", "::2", "fe80::/9", "fc00::/6",
		"2001:db8::/32", "2000::/3", "::ffff:0:0/96",
		"::ffff:8.8.8.0/120", "64:ff9b::/96", NULL };
	size_t i;

	(void)state;
	for (i = 0; inside[i] != NULL; i++)
		if (!private(inside[i]))
			fail_msg("%s should be private", inside[i]);
	for (i = 0; outside[i] != NULL; i++)
		if (private(outside[i]))
			fail_msg("%s reaches public addresses", outside[i]);
}

static void
test_hostport(void **state)
{
	char host[64];
	unsigned port;

	(void)state;
	assert_int_equal(netaddr_split_hostport("127.0.0.1:25", host,
	    sizeof(host), &port, 502), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 25);
	assert_int_equal(netaddr_split_hostport("plc1", host, sizeof(host),
	    &port, 502), 0);
	assert_string_equal(host, "plc1");
	assert_int_equal(port, 502);
	assert_int_equal(netaddr_split_hostport("[::1]:2525", host,
	    sizeof(host), &port, 25), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 2525);
	assert_int_equal(netaddr_split_hostport("::1", host, sizeof(host),
	    &port, 25), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 25);
	assert_int_equal(netaddr_split_hostport("h:0", host, sizeof(host),
	    &port, 25), -1);
	assert_int_equal(netaddr_split_hostport("h:70000", host, sizeof(host),
	    &port, 25), -1);
	assert_int_equal(netaddr_split_hostport("[::1", host, sizeof(host),
	    &port, 25), -1);
	assert_int_equal(netaddr_split_hostport(":25", host, sizeof(host),
	    &port, 25), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_private),
		cmocka_unit_test(test_hostport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
