/*
 * Modbus2Mail.cpp - see Modbus2Mail.h. RAM: 4 x 268 B receive slots plus a
 * 260 B reply buffer plus the 76 B standard tables; no heap.
 */
#include <string.h>

#include "Modbus2Mail.h"

Modbus2Mail::Modbus2Mail(uint16_t port)
    : server_(port), std_(false), heartbeatMs_(1000), lastTick_(0),
      lastRequest_(0)
{
	memset(&fw_, 0, sizeof(fw_));
	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++)
		slots_[i].len = 0;
}

bool
Modbus2Mail::begin(uint8_t unitId)
{
	struct m2mfw_config cfg;

	m2mfw_std_config(&cfg, &tables_, unitId);
	if (!begin(cfg))
		return false;
	std_ = true;
	return true;
}

bool
Modbus2Mail::begin(const struct m2mfw_config &cfg)
{
	if (m2mfw_init(&fw_, &cfg) != 0)
		return false;
	std_ = false;
	server_.begin();
	lastTick_ = lastRequest_ = millis();
	return true;
}

void
Modbus2Mail::poll()
{
	accept();
	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++)
		if (slots_[i].client)
			service(slots_[i]);
	if (heartbeatMs_ != 0 && millis() - lastTick_ >= heartbeatMs_) {
		lastTick_ += heartbeatMs_;
		m2mfw_tick(&fw_);
	}
}

void
Modbus2Mail::accept()
{
	EthernetClient c = server_.accept();

	if (!c)
		return;
	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++) {
		if (!slots_[i].client) {
			slots_[i].client = c;
			slots_[i].len = 0;
			slots_[i].lastRx = millis();
			return;
		}
	}
	c.stop();
}

void
Modbus2Mail::drop(Slot &s)
{
	s.client.stop();
	s.len = 0;
}

/* Frame, answer, consume: the loop tests/firmware/m2mfw_shim.c also runs. */
void
Modbus2Mail::service(Slot &s)
{
	int	avail, r, n, rl;

	while ((avail = s.client.available()) > 0) {
		r = s.client.read(s.buf + s.len, sizeof(s.buf) - s.len);
		if (r <= 0)
			break;
		s.len += (uint16_t)r;
		s.lastRx = millis();
		while ((n = m2mfw_frame_len(s.buf, s.len)) > 0) {
			rl = m2mfw_handle(&fw_, s.buf, s.len, tx_, sizeof(tx_));
			if (rl < 0) {
				drop(s);
				return;
			}
			if (rl > 0) {
				s.client.write(tx_, (size_t)rl);
				lastRequest_ = millis();
			}
			memmove(s.buf, s.buf + n, s.len - (uint16_t)n);
			s.len -= (uint16_t)n;
		}
		if (n == M2MFW_EPROTO) {
			drop(s);
			return;
		}
	}
	if (!s.client.connected() || millis() - s.lastRx > M2M_IDLE_TIMEOUT_MS)
		drop(s);
}

void
Modbus2Mail::setAlarm(uint8_t n, bool on)
{
	m2mfw_set_bit(&fw_, M2MFW_COILS, n, on);
	if (std_ && n < 16) {
		uint16_t w = tables_.holding[M2MFW_STD_ALARM_WORD];

		w = on ? (uint16_t)(w | (1u << n)) : (uint16_t)(w & ~(1u << n));
		tables_.holding[M2MFW_STD_ALARM_WORD] = w;
	}
}

bool
Modbus2Mail::alarm(uint8_t n) const
{
	return m2mfw_get_bit(&fw_, M2MFW_COILS, n) == 1;
}

bool
Modbus2Mail::mailOk() const
{
	return m2mfw_get_bit(&fw_, M2MFW_COILS, M2MFW_STD_MAIL_OK) == 1;
}

void
Modbus2Mail::setCoil(uint16_t addr, bool on)
{
	m2mfw_set_bit(&fw_, M2MFW_COILS, addr, on);
}

bool
Modbus2Mail::coil(uint16_t addr) const
{
	return m2mfw_get_bit(&fw_, M2MFW_COILS, addr) == 1;
}

void
Modbus2Mail::setInput(uint16_t addr, bool level)
{
	m2mfw_set_bit(&fw_, M2MFW_DISCRETE, addr, level);
}

void
Modbus2Mail::setRegister(uint16_t addr, uint16_t v)
{
	m2mfw_set_word(&fw_, M2MFW_HOLDING, addr, v);
}

uint16_t
Modbus2Mail::reg(uint16_t addr) const
{
	uint16_t v = 0;

	m2mfw_get_word(&fw_, M2MFW_HOLDING, addr, &v);
	return v;
}

void
Modbus2Mail::setInputRegister(uint16_t addr, uint16_t v)
{
	m2mfw_set_word(&fw_, M2MFW_INPUT, addr, v);
}

void
Modbus2Mail::onWrite(m2mfw_write_cb cb, void *arg)
{
	fw_.cfg.on_write = cb;
	fw_.cfg.arg = arg;
}

void
Modbus2Mail::setHeartbeatInterval(uint32_t ms)
{
	heartbeatMs_ = ms;
	lastTick_ = millis();
}

void
Modbus2Mail::tick()
{
	m2mfw_tick(&fw_);
}

uint32_t
Modbus2Mail::msSinceLastRequest() const
{
	return millis() - lastRequest_;
}

uint8_t
Modbus2Mail::clients()
{
	uint8_t n = 0;

	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++)
		if (slots_[i].client)
			n++;
	return n;
}

struct m2mfw *
Modbus2Mail::core()
{
	return &fw_;
}
