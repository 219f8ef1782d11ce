/*
 * libFuzzer target: the streaming subunit v2 parser. The input is parsed
 * whole and again in pieces whose sizes come from the input itself; both
 * must give the same summary (streaming must not change the result).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sources/subunit/subunit_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static json_t *
fuzz_summary(const uint8_t *data, size_t len, int chunked)
{
	struct subunit_parser	*p = subunit_parser_create(4, 50);
	size_t			 off = 0, n, i = 0;
	json_t			*out;

	while (off < len) {
		n = chunked ? 1 + data[i++ % len] % 61 : len;
		if (n > len - off)
			n = len - off;
		subunit_parser_feed(p, data + off, n);
		off += n;
	}
	subunit_parser_finish(p);
	out = subunit_summary_json(subunit_parser_summary(p));
	subunit_parser_free(p);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	json_t	*whole = fuzz_summary(data, len, 0);
	json_t	*pieces = fuzz_summary(data, len, 1);

	if (!json_equal(whole, pieces))
		abort();
	json_decref(whole);
	json_decref(pieces);
	return 0;
}
