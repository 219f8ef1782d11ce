/*
 * libFuzzer target: the Gearman packet codec. Parse packets off the input
 * as a worker reads its socket; every packet of a known type is split into
 * its arguments and encoded again, which must give back the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/subunit/gearman_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct gearman_packet	pkt;
	struct gearman_arg	args[GEARMAN_MAX_ARGS];
	ssize_t			n;
	size_t			out_len;
	uint8_t			*out;
	int			nargs;

	while (len > 0) {
		n = gearman_parse(data, len, 1 << 16, &pkt);
		if (n <= 0)
			break;
		nargs = gearman_type_nargs(pkt.type);
		if (nargs >= 0 && gearman_split(&pkt, args, (size_t)nargs) == 0) {
			out_len = gearman_encode(NULL, 0, pkt.magic, pkt.type,
			    args, (size_t)nargs);
			if (nargs == 0 && pkt.size > 0)
				out_len += pkt.size;	/* data ignored */
			else {
				if (out_len != (size_t)n)
					abort();
				out = malloc(out_len);
				gearman_encode(out, out_len, pkt.magic, pkt.type,
				    args, (size_t)nargs);
				if (memcmp(out, data, out_len) != 0)
					abort();
				free(out);
			}
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}
