/*
 * Modbus2MailMap.h - Arduino wrapper, the part without a transport: the
 * m2mfw core over the standard map (or the sketch's own tables), the
 * heartbeat, the table helpers and "is anybody polling?". Modbus2Mail
 * (Modbus/TCP, Modbus2Mail.h) is a Modbus2MailMap; Modbus2MailRtu (RS-485,
 * Modbus2MailRtu.h) serves the core of either, so one map can answer both.
 *
 * begin(unitId) uses the standard map (m2mfw.h, docs/firmware.md): coils
 * 0..15 alarm bits, 16..30 ack coils, 31 mail_ok; discrete inputs 0..15;
 * holding 0 heartbeat (advanced every second by poll()), 1 alarm word,
 * 8..15 writable; input registers 0..7.
 */
#ifndef MODBUS2MAIL_MAP_H
#define MODBUS2MAIL_MAP_H

#include <Arduino.h>

#include "m2mfw.h"

class Modbus2MailMap {
public:
	Modbus2MailMap();

	/* Standard map over the wrapper's own tables. false: bad config. */
	bool begin(uint8_t unitId = 1);
	/* Application tables (see struct m2mfw_config). */
	bool begin(const struct m2mfw_config &cfg);

	/* Call from loop(): advance the heartbeat, notice answered requests. */
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

	/* ms since poll() last saw an answered request (any transport). */
	uint32_t msSinceLastRequest() const;
	struct m2mfw *core();

protected:
	struct m2mfw		fw_;

private:
	struct m2mfw_std_tables	tables_;
	bool			std_;
	uint16_t		seenRequests_;
	uint32_t		heartbeatMs_;
	uint32_t		lastTick_;
	uint32_t		lastRequest_;
};

#endif
