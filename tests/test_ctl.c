/* Unit tests for ctl.c: the daemon side of the control socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/syscall.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "modbus2mail/ctl.h"

static int umask_calls;

/* Interposed: umask() is process-wide, the daemon's threads create files. */
mode_t
umask(mode_t mask)
{
	umask_calls++;
	return (mode_t)syscall(SYS_umask, mask);
}

static void
test_listen_mode_without_umask(void **state)
{
	char dir[] = "/tmp/m2m-ctl-XXXXXX", path[128];
	struct stat st;
	mode_t old;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	old = (mode_t)syscall(SYS_umask, 0);
	umask_calls = 0;
	fd = ctl_listen(path);
	syscall(SYS_umask, old);
	assert_int_not_equal(fd, -1);
	assert_int_equal(umask_calls, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_mode_without_umask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
