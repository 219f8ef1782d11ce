/* libFuzzer: the WebSocket frame decoder, fed in pieces. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/event.h"
#include "lib/ws/ws_frame.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct ws_decoder	d;
	struct ws_decoded	r;
	uint8_t			out[97];
	uint16_t		code;
	size_t			pos = 0, end, n, step;

	/* The first byte picks the piece size and the limits, so that the
	 * corpus (whole streams) works with and without it. */
	step = len > 0 ? (size_t)(buf[0] % 17) : 0;
	ws_decoder_init(&d, len > 0 && (buf[0] & 0x80) ? 64 : 0,
	    len > 0 && (buf[0] & 0x40) ? 200 : 0);
	while (pos < len) {
		end = step == 0 || len - pos < step ? len : pos + step;
		do {
			n = ws_decoder_feed(&d, buf + pos, end - pos, out,
			    sizeof out, &r);
			pos += n;
			if (r.ctl_len > 0)
				(void)memchr(r.ctl, 0, r.ctl_len);
		} while (n > 0 || r.ev != WS_EV_NONE || r.data_len > 0);
		if (d.failed || pos < end)
			break;
	}
	(void)fh_utf8_is_valid(buf, len);
	(void)ws_frame_close_parse(buf, len, &code);
	return 0;
}
