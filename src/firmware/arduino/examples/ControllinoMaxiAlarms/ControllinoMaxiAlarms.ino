/*
 * ControllinoMaxiAlarms - a Controllino MAXI tells the modbus2mail gateway
 * about its alarms over Modbus/TCP (Ethernet) and Modbus RTU (its RS-485
 * port, 19200 baud 8E1, unit id 1), one register map for both; the
 * gateway sends the mail. Set USE_ETHERNET or USE_RS485 to 0 to serve one.
 *
 *   A1..A9, IN0, IN1 (24 V inputs)  -> alarm coils 0..10 (1 = input high),
 *                                      discrete inputs 0..10, alarm word bits
 *   A0 (analogue, 0..1023)          -> input register 0
 *   heartbeat                       -> holding register 0, +1 every second
 *   D0 (lamp)                       -> lit while the gateway's mail_ok
 *                                      coil 31 is 0, or no gateway polled
 *                                      for 30 s (mail is not getting out)
 *   coils 16..26 (acks)             -> written by an HMI; printed on Serial
 *   RS-485 A/B (Serial3)            -> Modbus RTU, direction by DE/nRE
 *
 * Matching gateway configuration: docs/firmware.md. Wiring: ibid.
 */
#include <Arduino.h>

#ifndef USE_ETHERNET
#define USE_ETHERNET	1	/* Modbus/TCP on port 502 */
#endif
#ifndef USE_RS485
#define USE_RS485	1	/* Modbus RTU on the RS-485 terminals */
#endif
#define RS485_BAUD	19200
#define RS485_CONFIG	SERIAL_8E1	/* the Modbus default: even parity */
#define UNIT_ID		1		/* RTU: 1..247, unique on the bus */

#if USE_ETHERNET
#include <SPI.h>
#include <Ethernet.h>
#include <Modbus2Mail.h>
#else
#include <Modbus2MailMap.h>
#endif
#if USE_RS485
#include <Modbus2MailRtu.h>
#endif

#if defined(__has_include)
#if __has_include(<Controllino.h>)
#include <Controllino.h>
#endif
#endif

#ifndef CONTROLLINO_A0
/* Controllino MAXI pin numbers (as in Controllino.h, for builds without it). */
#define CONTROLLINO_D0	2
#define CONTROLLINO_A0	54
#define CONTROLLINO_A1	55
#define CONTROLLINO_A2	56
#define CONTROLLINO_A3	57
#define CONTROLLINO_A4	58
#define CONTROLLINO_A5	59
#define CONTROLLINO_A6	60
#define CONTROLLINO_A7	61
#define CONTROLLINO_A8	62
#define CONTROLLINO_A9	63
#define CONTROLLINO_IN0	18
#define CONTROLLINO_IN1	19
/* Pins 75/76 exist in the Controllino variant only: no direction control. */
#define CONTROLLINO_RS485_DE	M2M_NO_PIN
#define CONTROLLINO_RS485_nRE	M2M_NO_PIN
#endif

#define ANALOG_PIN	CONTROLLINO_A0
#define LAMP_PIN	CONTROLLINO_D0
#define NO_POLL_MS	30000UL		/* gateway silent this long: lamp on */

#if USE_ETHERNET
static uint8_t mac[] = { 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x10 };
static IPAddress ip(192, 168, 1, 10);
static Modbus2Mail m2m;		/* Modbus/TCP port 502, and the map */
#else
static Modbus2MailMap m2m;	/* the map alone */
#endif
#if USE_RS485
static Modbus2MailRtu rs485(Serial3, CONTROLLINO_RS485_DE,
    CONTROLLINO_RS485_nRE);
#endif

static const uint8_t alarmPins[] = {
	CONTROLLINO_A1, CONTROLLINO_A2, CONTROLLINO_A3, CONTROLLINO_A4,
	CONTROLLINO_A5, CONTROLLINO_A6, CONTROLLINO_A7, CONTROLLINO_A8,
	CONTROLLINO_A9, CONTROLLINO_IN0, CONTROLLINO_IN1
};
#define NALARMS	(sizeof(alarmPins) / sizeof(alarmPins[0]))

/* The core calls this for every coil/register a client writes. */
static void
onWrite(void *arg, enum m2mfw_table t, uint16_t addr, uint16_t value)
{
	(void)arg;
	if (t == M2MFW_COILS && addr >= M2MFW_STD_COIL_WR &&
	    addr < M2MFW_STD_COIL_WR + NALARMS && value == 1) {
		Serial.print(F("ack alarm "));
		Serial.println(addr - M2MFW_STD_COIL_WR);
	} else if (t == M2MFW_COILS && addr == M2MFW_STD_MAIL_OK) {
		Serial.print(F("mail_ok="));
		Serial.println(value);
	}
}

void
setup()
{
	Serial.begin(115200);
	for (uint8_t i = 0; i < NALARMS; i++)
		pinMode(alarmPins[i], INPUT);
	pinMode(LAMP_PIN, OUTPUT);
	digitalWrite(LAMP_PIN, HIGH);	/* until the gateway says mail is ok */
#if USE_ETHERNET
	Ethernet.begin(mac, ip);
#endif
	if (!m2m.begin(UNIT_ID))
		Serial.println(F("modbus2mail: bad register map"));
	m2m.onWrite(onWrite, NULL);
#if USE_RS485
	if (!rs485.begin(m2m.core(), RS485_BAUD, RS485_CONFIG))
		Serial.println(F("modbus2mail: RS-485 needs unit id 1..247"));
#endif
}

void
loop()
{
	bool lamp;

	for (uint8_t i = 0; i < NALARMS; i++) {
		bool level = digitalRead(alarmPins[i]) == HIGH;

		m2m.setInput(i, level);
		m2m.setAlarm(i, level);
	}
	m2m.setInputRegister(0, (uint16_t)analogRead(ANALOG_PIN));
	m2m.poll();		/* answers the gateway, heartbeat every second */
#if USE_RS485
	rs485.poll();		/* the same map over Modbus RTU */
#endif

	lamp = !m2m.mailOk() || m2m.msSinceLastRequest() > NO_POLL_MS;
	digitalWrite(LAMP_PIN, lamp ? HIGH : LOW);
}
