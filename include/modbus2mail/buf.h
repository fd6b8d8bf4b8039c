/*
 * buf.h - a growable byte buffer, always NUL-terminated. Out of memory is
 * sticky: later appends do nothing and return -1, so a builder checks once
 * at the end.
 */
#ifndef MODBUS2MAIL_BUF_H
#define MODBUS2MAIL_BUF_H

#include <stddef.h>

struct buf {
	char	*p;		/* NULL until the first append */
	size_t	 len, cap;
	int	 oom;
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* 0, or -1 when memory ran out (now or before). */
int	buf_add(struct buf *, const void *, size_t);
int	buf_adds(struct buf *, const char *);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	buf_free(struct buf *);

#endif
