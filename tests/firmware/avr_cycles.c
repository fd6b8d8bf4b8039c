/*
 * avr_cycles.c - BENCH FIXTURE for simavr: runs m2mfw_handle() (TCP) and
 * m2mfw_rtu_rx() + m2mfw_rtu_poll() (RTU) on a simulated ATmega2560 and
 * prints, on UART0, the CPU cycles each request takes, counted with Timer1 at prescaler 1 (one tick per cycle, overflows
 * counted). Build and run: see docs/firmware.md ("CPU cost").
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>

#include "m2mfw_rtu.h"

typedef int (*answer_fn)(const uint8_t *, uint16_t);

static struct m2mfw		fw;
static struct m2mfw_rtu		rtu;
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

static int
tcp(const uint8_t *req, uint16_t len)
{
	return m2mfw_handle(&fw, req, len, resp, sizeof(resp));
}

/*
 * What the Arduino glue does per frame: every byte in, one poll after t3.5.
 * The reply's CRC is checked outside the measured span (measure() prints
 * the length, so a bad one shows as an unexpected length).
 */
static int
rtu_frame(const uint8_t *req, uint16_t len)
{
	uint16_t	i;

	for (i = 0; i < len; i++)
		m2mfw_rtu_rx(&rtu, req[i], 0);
	return m2mfw_rtu_poll(&rtu, rtu.t35, resp, sizeof(resp));
}

static uint32_t
measure(const char *what, answer_fn answer, const uint8_t *req, uint16_t len)
{
	uint32_t	cycles;
	uint16_t	t;
	int		r;

	cli();
	overflows = 0;
	TCNT1 = 0;
	TIFR1 = (1 << TOV1);
	sei();
	r = answer(req, len);
	cli();
	t = TCNT1;
	if (TIFR1 & (1 << TOV1)) {	/* overflow not yet serviced */
		overflows++;
		t = TCNT1;
	}
	cycles = ((uint32_t)overflows << 16) + t;
	sei();
	if (answer == rtu_frame && r > 0 && m2mfw_crc16(resp, (size_t)r) != 0)
		r = -99;
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
	static const uint8_t rtu_fc3_10[] = { 1, 0x03, 0, 0, 0, 10, 0xC5, 0xCD };
	static const uint8_t rtu_unit2[] = { 2, 0x03, 0, 0, 0, 10, 0xC5, 0xFE };
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
	measure("empty", tcp, fc3_10, 0);		/* overhead of the measurement itself */
	measure("fc3_10regs", tcp, fc3_10, sizeof(fc3_10));
	measure("fc1_16coils", tcp, fc1_16, sizeof(fc1_16));
	measure("fc5_write", tcp, fc5, sizeof(fc5));
	measure("fc3_exception02", tcp, ex02, sizeof(ex02));
	m2mfw_rtu_init(&rtu, &fw, 19200);
	measure("rtu_fc3_10regs", rtu_frame, rtu_fc3_10, sizeof(rtu_fc3_10));
	measure("rtu_other_unit", rtu_frame, rtu_unit2, sizeof(rtu_unit2));

	memset(&cfg, 0, sizeof(cfg));
	cfg.coils = big_coils;
	cfg.ncoils = 2000;
	cfg.holding = big_regs;
	cfg.nholding = 125;
	cfg.heartbeat = M2MFW_NO_HEARTBEAT;
	cfg.unit_id = 1;
	m2mfw_init(&fw, &cfg);
	measure("fc1_2000coils", tcp, fc1_2000, sizeof(fc1_2000));
	measure("fc3_125regs", tcp, fc3_125, sizeof(fc3_125));

	uart_puts("done\r\n");
	cli();
	sleep_cpu();				/* simavr stops here */
	for (;;)
		;
}
