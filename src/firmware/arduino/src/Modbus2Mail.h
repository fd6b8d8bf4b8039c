/*
 * Modbus2Mail.h - Arduino wrapper: the m2mfw Modbus/TCP core served over an
 * EthernetServer (W5100, Ethernet library >= 2.0) to up to 4 clients. The
 * map, the heartbeat and the table helpers come from Modbus2MailMap.h; for
 * Modbus RTU on RS-485 as well (or instead) see Modbus2MailRtu.h.
 *
 *   Modbus2Mail m2m;                 // port 502
 *   setup():  Ethernet.begin(mac, ip); m2m.begin(1);
 *   loop():   m2m.setAlarm(0, digitalRead(pin)); m2m.poll();
 */
#ifndef MODBUS2MAIL_ARDUINO_H
#define MODBUS2MAIL_ARDUINO_H

#include <Arduino.h>
#include <Ethernet.h>

#include "Modbus2MailMap.h"

#define M2M_MAX_CLIENTS		4	/* the W5100 has 4 sockets */
#define M2M_IDLE_TIMEOUT_MS	60000UL	/* drop a silent client, free its socket */

class Modbus2Mail : public Modbus2MailMap {
public:
	explicit Modbus2Mail(uint16_t port = 502);

	/* The map (see Modbus2MailMap), then listen. false: bad config. */
	bool begin(uint8_t unitId = 1);
	bool begin(const struct m2mfw_config &cfg);

	/* Call from loop(): accept, answer requests, advance the heartbeat. */
	void poll();

	uint8_t clients();

private:
	struct Slot {
		EthernetClient	client;
		uint32_t	lastRx;
		uint16_t	len;
		uint8_t		buf[M2MFW_ADU_MAX];
	};

	void accept();
	void service(Slot &s);
	void drop(Slot &s);

	EthernetServer		server_;
	Slot			slots_[M2M_MAX_CLIENTS];
	uint8_t			tx_[M2MFW_ADU_MAX];
};

#endif
