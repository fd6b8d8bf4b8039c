/*
 * Modbus2Mail.cpp - see Modbus2Mail.h. RAM: 4 x 268 B receive slots plus a
 * 260 B reply buffer (plus the map's 76 B standard tables); no heap.
 */
#include <string.h>

#include "Modbus2Mail.h"

Modbus2Mail::Modbus2Mail(uint16_t port)
    : server_(port)
{
	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++)
		slots_[i].len = 0;
}

bool
Modbus2Mail::begin(uint8_t unitId)
{
	if (!Modbus2MailMap::begin(unitId))
		return false;
	server_.begin();
	return true;
}

bool
Modbus2Mail::begin(const struct m2mfw_config &cfg)
{
	if (!Modbus2MailMap::begin(cfg))
		return false;
	server_.begin();
	return true;
}

void
Modbus2Mail::poll()
{
	accept();
	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++)
		if (slots_[i].client)
			service(slots_[i]);
	Modbus2MailMap::poll();
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
			if (rl > 0)
				s.client.write(tx_, (size_t)rl);
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

uint8_t
Modbus2Mail::clients()
{
	uint8_t n = 0;

	for (uint8_t i = 0; i < M2M_MAX_CLIENTS; i++)
		if (slots_[i].client)
			n++;
	return n;
}
