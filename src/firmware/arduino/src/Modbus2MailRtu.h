/*
 * Modbus2MailRtu.h - Arduino wrapper: the m2mfw core answers Modbus RTU on
 * a hardware serial port through an RS-485 transceiver (Controllino
 * MAXI/MEGA: Serial3, driver enable CONTROLLINO_RS485_DE, receiver enable
 * CONTROLLINO_RS485_nRE). It serves the core of a Modbus2MailMap, so one
 * map answers Modbus/TCP (Modbus2Mail) and RTU alike, or RTU alone.
 *
 *   Modbus2MailMap plc;   Modbus2MailRtu rs485(Serial3, DE_PIN, NRE_PIN);
 *   setup():  plc.begin(1); rs485.begin(plc.core(), 19200, SERIAL_8E1);
 *   loop():   plc.setAlarm(0, digitalRead(pin)); plc.poll(); rs485.poll();
 *
 * Bytes are timed with micros() as poll() reads them: a silence of 26 bit
 * times starts a new frame, 3.5 characters of 11 bits let the reply go
 * (1.35 and 2.0 ms at 19200 baud). loop() must come round within about 9
 * bit times (0.47 ms at 19200 baud) for a master that keeps only the
 * minimum gap on a shared 8N1 bus, within 1.35 ms otherwise; slower, a
 * request is cut in two, fails its CRC and gets no reply (the master asks
 * again; a wrong answer never results). The unit id (1..247) is the map's;
 * broadcast writes (unit 0) are applied without a reply. While a reply
 * goes out poll() blocks (0.57 ms a byte at 19200 baud), then drops what
 * the receiver heard of it.
 */
#ifndef MODBUS2MAIL_RTU_H
#define MODBUS2MAIL_RTU_H

#include <Arduino.h>

#include "m2mfw_rtu.h"

#define M2M_NO_PIN	0xFF

class Modbus2MailRtu {
public:
	/*
	 * dePin: driver enable, HIGH while sending; nrePin: receiver enable,
	 * active LOW, HIGH while sending. M2M_NO_PIN for a transceiver that
	 * switches by itself, or one pin for DE and /RE tied together.
	 */
	explicit Modbus2MailRtu(HardwareSerial &port, uint8_t dePin = M2M_NO_PIN,
	    uint8_t nrePin = M2M_NO_PIN);

	/*
	 * Serve core (Modbus2MailMap::core()) at baud with the UART framing
	 * config (SERIAL_8E1 is the Modbus default, SERIAL_8N2 without
	 * parity). false: baud 0 or the map's unit id outside 1..247.
	 */
	bool begin(struct m2mfw *core, uint32_t baud,
	    uint8_t config = SERIAL_8E1);

	/* Call from loop(): read the bytes, answer a finished frame. */
	void poll();

	/* Frames dropped: bad CRC, too short or too long (wraps). */
	uint16_t dropped() const;

private:
	void transmit(uint8_t level);

	HardwareSerial		&port_;
	uint8_t			 dePin_;
	uint8_t			 nrePin_;
	struct m2mfw_rtu	 rtu_;
	uint8_t			 tx_[M2MFW_RTU_ADU_MAX];
};

#endif
