/*
 * Modbus2Mail.h - Arduino wrapper: the m2mfw Modbus/TCP core served over an
 * EthernetServer (W5100, Ethernet library >= 2.0) to up to 4 clients.
 *
 *   Modbus2Mail m2m;                 // port 502
 *   setup():  Ethernet.begin(mac, ip); m2m.begin(1);
 *   loop():   m2m.setAlarm(0, digitalRead(pin)); m2m.poll();
 *
 * begin(unitId) uses the standard map (m2mfw.h, docs/firmware.md): coils
 * 0..15 alarm bits, 16..30 ack coils, 31 mail_ok; discrete inputs 0..15;
 * holding 0 heartbeat (advanced every second by poll()), 1 alarm word,
 * 8..15 writable; input registers 0..7.
 */
#ifndef MODBUS2MAIL_ARDUINO_H
#define MODBUS2MAIL_ARDUINO_H

#include <Arduino.h>
#include <Ethernet.h>

#include "m2mfw.h"

#define M2M_MAX_CLIENTS		4	/* the W5100 has 4 sockets */
#define M2M_IDLE_TIMEOUT_MS	60000UL	/* drop a silent client, free its socket */

class Modbus2Mail {
public:
	explicit Modbus2Mail(uint16_t port = 502);

	/* Standard map over the wrapper's own tables. false: bad config. */
	bool begin(uint8_t unitId = 1);
	/* Application tables (see struct m2mfw_config). */
	bool begin(const struct m2mfw_config &cfg);

	/* Call from loop(): accept, answer requests, advance the heartbeat. */
	void poll();

	/* Standard map helpers (coil n and bit n of the alarm word). */
	void setAlarm(uint8_t n, bool on);
	bool alarm(uint8_t n) const;
	bool mailOk() const;			/* coil 31, written by the gateway */

	void setCoil(uint16_t addr, bool on);
	bool coil(uint16_t addr) const;
	void setInput(uint16_t addr, bool level);	/* discrete input */
	void setRegister(uint16_t addr, uint16_t v);	/* holding register */
	uint16_t reg(uint16_t addr) const;
	void setInputRegister(uint16_t addr, uint16_t v);

	/* Called for every coil/register a client writes (acks, mail_ok). */
	void onWrite(m2mfw_write_cb cb, void *arg);
	/* Heartbeat period in ms, 0 = the sketch calls tick() itself. */
	void setHeartbeatInterval(uint32_t ms);
	void tick();

	/* ms since the last answered request: the gateway polls every second. */
	uint32_t msSinceLastRequest() const;
	uint8_t clients();
	struct m2mfw *core();

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
	struct m2mfw		fw_;
	struct m2mfw_std_tables	tables_;
	bool			std_;
	uint32_t		heartbeatMs_;
	uint32_t		lastTick_;
	uint32_t		lastRequest_;
};

#endif
