/*
 * avr_cycles.c - BENCH FIXTURE for simavr: runs m2mfw_handle() on a
 * simulated ATmega2560 and prints, on UART0, the CPU cycles each request
 * takes, counted with Timer1 at prescaler 1 (one tick per cycle, overflows
 * counted). Build and run: see docs/firmware.md ("CPU cost").
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>

#include "m2mfw.h"

static struct m2mfw		fw;
static struct m2mfw_std_tables	std_tables;
static uint8_t			resp[M2MFW_ADU_MAX];
static volatile uint16_t	overflows;
static uint8_t			big_coils[250];
static uint16_t			big_regs[125];

ISR(TIMER1_OVF_vect)
{
	overflows++;
}

static void
uart_putc(char c)
{
	while (!(UCSR0A & (1 << UDRE0)))
		;
	UDR0 = (uint8_t)c;
}

static void
uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

static void
uart_putu(uint32_t v)
{
	char	buf[11];
	int	i = 10;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	uart_puts(buf + i);
}

static uint32_t
measure(const char *what, const uint8_t *req, uint16_t len)
{
	uint32_t	cycles;
	uint16_t	t;
	int		r;

	cli();
	overflows = 0;
	TCNT1 = 0;
	TIFR1 = (1 << TOV1);
	sei();
	r = m2mfw_handle(&fw, req, len, resp, sizeof(resp));
	cli();
	t = TCNT1;
	if (TIFR1 & (1 << TOV1)) {	/* overflow not yet serviced */
		overflows++;
		t = TCNT1;
	}
	cycles = ((uint32_t)overflows << 16) + t;
	sei();
	uart_puts(what);
	uart_puts(" len=");
	if (r < 0) {
		uart_putc('-');
		r = -r;
	}
	uart_putu((uint32_t)r);
	uart_puts(" cycles=");
	uart_putu(cycles);
	uart_puts("\r\n");
	return cycles;
}

int
main(void)
{
	static const uint8_t fc3_10[] = { 0, 1, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 10 };
	static const uint8_t fc1_16[] = { 0, 2, 0, 0, 0, 6, 1, 0x01, 0, 0, 0, 16 };
	static const uint8_t fc5[] = { 0, 3, 0, 0, 0, 6, 1, 0x05, 0, 31, 0xFF, 0 };
	static const uint8_t ex02[] = { 0, 4, 0, 0, 0, 6, 1, 0x03, 0, 16, 0, 1 };
	static const uint8_t fc1_2000[] = { 0, 5, 0, 0, 0, 6, 1, 0x01, 0, 0, 0x07, 0xD0 };
	static const uint8_t fc3_125[] = { 0, 6, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 125 };
	struct m2mfw_config	cfg;

	UBRR0 = 8;				/* 115200 at 16 MHz; simavr ignores it */
	UCSR0B = (1 << TXEN0);
	UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);
	TCCR1A = 0;
	TCCR1B = (1 << CS10);			/* clk/1 */
	TIMSK1 = (1 << TOIE1);
	sei();

	m2mfw_std_config(&cfg, &std_tables, 1);
	m2mfw_init(&fw, &cfg);
	measure("empty", fc3_10, 0);		/* overhead of the measurement itself */
	measure("fc3_10regs", fc3_10, sizeof(fc3_10));
	measure("fc1_16coils", fc1_16, sizeof(fc1_16));
	measure("fc5_write", fc5, sizeof(fc5));
	measure("fc3_exception02", ex02, sizeof(ex02));

	memset(&cfg, 0, sizeof(cfg));
	cfg.coils = big_coils;
	cfg.ncoils = 2000;
	cfg.holding = big_regs;
	cfg.nholding = 125;
	cfg.heartbeat = M2MFW_NO_HEARTBEAT;
	cfg.unit_id = 1;
	m2mfw_init(&fw, &cfg);
	measure("fc1_2000coils", fc1_2000, sizeof(fc1_2000));
	measure("fc3_125regs", fc3_125, sizeof(fc3_125));

	uart_puts("done\r\n");
	cli();
	sleep_cpu();				/* simavr stops here */
	for (;;)
		;
}
