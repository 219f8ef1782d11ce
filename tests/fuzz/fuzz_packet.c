/*
 * libFuzzer: the MQTT decoder at every protocol level, then the encoders
 * on whatever decoded (the round trip must give the same bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/mqtt/packet.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_roundtrip(const struct mqtt_packet *p, const uint8_t *in, size_t used)
{
	uint8_t	*out;
	size_t	 n;

	if (p->type == MQTT_PUBLISH) {
		n = mqtt_encode_publish(NULL, 0, &p->u.publish);
		out = malloc(n);
		mqtt_encode_publish(out, n, &p->u.publish);
		if (n != used || memcmp(out, in, n) != 0) {
			/* only non-minimal remaining lengths may differ */
			if (n > used)
				abort();
		}
		free(out);
	} else if (p->type == MQTT_SUBSCRIBE || p->type == MQTT_UNSUBSCRIBE) {
		n = mqtt_encode_subscribe(NULL, 0, p->type, &p->u.subscribe);
		out = malloc(n);
		mqtt_encode_subscribe(out, n, p->type, &p->u.subscribe);
		if (n > used)
			abort();
		free(out);
	} else if (p->type == MQTT_CONNECT) {
		n = mqtt_encode_connect(NULL, 0, &p->u.connect);
		out = malloc(n);
		mqtt_encode_connect(out, n, &p->u.connect);
		if (n > used)
			abort();
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	levels[] = { 0, MQTT_PROTO_31, MQTT_PROTO_311 };
	struct mqtt_packet	pkt;
	struct mqtt_fixed	fh;
	size_t			i, used, off;

	for (i = 0; i < 3; i++) {
		/* a stream of packets, as the broker reads them */
		off = 0;
		while (off < size && mqtt_fixed_parse(data + off, size - off,
		    &fh) == 0 && size - off - fh.hdrlen >= fh.remaining) {
			if (mqtt_decode(data + off, size - off, levels[i],
			    &pkt, &used) == 0)
				fuzz_roundtrip(&pkt, data + off, used);
			mqtt_packet_clear(&pkt);
			off += (size_t)fh.hdrlen + fh.remaining;
		}
	}
	(void)mqtt_filter_is_valid(data, size);
	return 0;
}
