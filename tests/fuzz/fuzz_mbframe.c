/*
 * libFuzzer target: a reply from a hostile device. The first 6 bytes pick
 * the request (unit, function, address, quantity; function byte >= 128:
 * over RTU), the rest is the reply as modbus_receive_confirmation() would
 * hand it over, or the RTU bytes as the bus read them.
 */
#include <stddef.h>
#include <stdint.h>

#include "modbus2mail/mbframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbframe_req rq;
	uint8_t req[MBFRAME_REQ_LEN], bits[2000], tcp[MBFRAME_RTU_MAX + 4];
	const uint8_t *rsp = data + 6;
	uint16_t regs[125];
	char why[128];
	enum mbframe_result r;

	if (size < 6)
		return 0;
	rq.tid = (uint16_t)(data[0] << 8 | data[1]);
	rq.unit = data[2];
	rq.fc = (uint8_t)(1 + data[3] % 5);
	rq.addr = data[4];
	/* quantities the read plan can ask for */
	rq.n = rq.fc == MBFRAME_FC_WRITE_COIL ? data[5] & 1 :
	    (uint16_t)(1 + data[5] % (rq.fc <= 2 ? 2000 : 125));
	if (rq.fc <= 2 && data[5] > 200)
		rq.n = 2000;
	mbframe_build(&rq, req);
	if (data[3] < 128)
		r = mbframe_check(&rq, rsp, size - 6, why, sizeof(why));
	else if (size - 6 > MBFRAME_RTU_MAX)
		return 0;
	else if ((r = mbframe_check_rtu(&rq, rsp, size - 6, why,
	    sizeof(why))) == MBFRAME_OK) {
		mbframe_rtu_to_tcp(&rq, rsp, size - 6, tcp);
		rsp = tcp;
	}
	if (r != MBFRAME_OK || rq.fc == MBFRAME_FC_WRITE_COIL)
		return 0;
	if (rq.fc <= 2)
		mbframe_bits(rsp, rq.n, bits);
	else
		mbframe_regs(rsp, rq.n, regs);
	return 0;
}
