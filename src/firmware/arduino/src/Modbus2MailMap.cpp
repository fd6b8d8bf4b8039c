/*
 * Modbus2MailMap.cpp - see Modbus2MailMap.h. RAM: the 76 B standard tables
 * and the core's state; no heap.
 */
#include <string.h>

#include "Modbus2MailMap.h"

Modbus2MailMap::Modbus2MailMap()
    : std_(false), seenRequests_(0), heartbeatMs_(1000), lastTick_(0),
      lastRequest_(0)
{
	memset(&fw_, 0, sizeof(fw_));
}

bool
Modbus2MailMap::begin(uint8_t unitId)
{
	struct m2mfw_config cfg;

	m2mfw_std_config(&cfg, &tables_, unitId);
	if (!Modbus2MailMap::begin(cfg))
		return false;
	std_ = true;
	return true;
}

bool
Modbus2MailMap::begin(const struct m2mfw_config &cfg)
{
	if (m2mfw_init(&fw_, &cfg) != 0)
		return false;
	std_ = false;
	seenRequests_ = fw_.requests;
	lastTick_ = lastRequest_ = millis();
	return true;
}

void
Modbus2MailMap::poll()
{
	/* The core counts answers; whichever transport gave them. */
	if (fw_.requests != seenRequests_) {
		seenRequests_ = fw_.requests;
		lastRequest_ = millis();
	}
	if (heartbeatMs_ != 0 && millis() - lastTick_ >= heartbeatMs_) {
		lastTick_ += heartbeatMs_;
		m2mfw_tick(&fw_);
	}
}

void
Modbus2MailMap::setAlarm(uint8_t n, bool on)
{
	m2mfw_set_bit(&fw_, M2MFW_COILS, n, on);
	if (std_ && n < 16) {
		uint16_t w = tables_.holding[M2MFW_STD_ALARM_WORD];

		w = on ? (uint16_t)(w | (1u << n)) : (uint16_t)(w & ~(1u << n));
		tables_.holding[M2MFW_STD_ALARM_WORD] = w;
	}
}

bool
Modbus2MailMap::alarm(uint8_t n) const
{
	return m2mfw_get_bit(&fw_, M2MFW_COILS, n) == 1;
}

bool
Modbus2MailMap::mailOk() const
{
	return m2mfw_get_bit(&fw_, M2MFW_COILS, M2MFW_STD_MAIL_OK) == 1;
}

void
Modbus2MailMap::setCoil(uint16_t addr, bool on)
{
	m2mfw_set_bit(&fw_, M2MFW_COILS, addr, on);
}

bool
Modbus2MailMap::coil(uint16_t addr) const
{
	return m2mfw_get_bit(&fw_, M2MFW_COILS, addr) == 1;
}

void
Modbus2MailMap::setInput(uint16_t addr, bool level)
{
	m2mfw_set_bit(&fw_, M2MFW_DISCRETE, addr, level);
}

void
Modbus2MailMap::setRegister(uint16_t addr, uint16_t v)
{
	m2mfw_set_word(&fw_, M2MFW_HOLDING, addr, v);
}

uint16_t
Modbus2MailMap::reg(uint16_t addr) const
{
	uint16_t v = 0;

	m2mfw_get_word(&fw_, M2MFW_HOLDING, addr, &v);
	return v;
}

void
Modbus2MailMap::setInputRegister(uint16_t addr, uint16_t v)
{
	m2mfw_set_word(&fw_, M2MFW_INPUT, addr, v);
}

void
Modbus2MailMap::onWrite(m2mfw_write_cb cb, void *arg)
{
	fw_.cfg.on_write = cb;
	fw_.cfg.arg = arg;
}

void
Modbus2MailMap::setHeartbeatInterval(uint32_t ms)
{
	heartbeatMs_ = ms;
	lastTick_ = millis();
}

void
Modbus2MailMap::tick()
{
	m2mfw_tick(&fw_);
}

uint32_t
Modbus2MailMap::msSinceLastRequest() const
{
	return millis() - lastRequest_;
}

struct m2mfw *
Modbus2MailMap::core()
{
	return &fw_;
}
