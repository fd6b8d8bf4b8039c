/*
 * Modbus2MailRtu.cpp - see Modbus2MailRtu.h. RAM: the 256 B frame buffer
 * in struct m2mfw_rtu and a 256 B reply buffer; no heap.
 */
#include "Modbus2MailRtu.h"

Modbus2MailRtu::Modbus2MailRtu(HardwareSerial &port, uint8_t dePin,
    uint8_t nrePin)
    : port_(port), dePin_(dePin), nrePin_(nrePin)
{
}

bool
Modbus2MailRtu::begin(struct m2mfw *core, uint32_t baud, uint8_t config)
{
	if (m2mfw_rtu_init(&rtu_, core, baud) != 0)
		return false;
	if (dePin_ != M2M_NO_PIN)
		pinMode(dePin_, OUTPUT);
	if (nrePin_ != M2M_NO_PIN)
		pinMode(nrePin_, OUTPUT);
	transmit(LOW);
	port_.begin(baud, config);
	return true;
}

/* LOW: listen (driver off, receiver on); HIGH: send. */
void
Modbus2MailRtu::transmit(uint8_t level)
{
	if (dePin_ != M2M_NO_PIN)
		digitalWrite(dePin_, level);
	if (nrePin_ != M2M_NO_PIN)
		digitalWrite(nrePin_, level);
}

/* Every byte in with the time it was read, then the core decides. */
void
Modbus2MailRtu::poll()
{
	int	n;

	while (port_.available() > 0)
		m2mfw_rtu_rx(&rtu_, (uint8_t)port_.read(), micros());
	n = m2mfw_rtu_poll(&rtu_, micros(), tx_, sizeof(tx_));
	if (n <= 0)
		return;
	transmit(HIGH);
	port_.write(tx_, (size_t)n);
	port_.flush();			/* until the last stop bit is out */
	transmit(LOW);
	/* An echo, where the receiver stayed on, is not a request. */
	while (port_.available() > 0)
		port_.read();
}

uint16_t
Modbus2MailRtu::dropped() const
{
	return rtu_.dropped;
}
