/* libFuzzer: the event log's parsers of network input: $replay/ topics,
 * times, seqs, filters, the Basic auth base64. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/log/filter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct filter_replay	 r;
	const char		*why;
	char			*s, out[FILTER_TIME_MAX];
	uint8_t			*dec;
	int64_t			 t;
	uint64_t		 seq;

	s = malloc(len + 1);
	memcpy(s, buf, len);
	s[len] = '\0';
	if (filter_replay_parse(s, 0, &r, &why) == 0) {
		if (!filter_is_valid(r.filter) || r.filter < s ||
		    r.filter > s + len)
			abort();
		(void)filter_matches(r.filter, "gerrit/change/1");
	}
	if (filter_time_parse(s, 0, &t) == 0)
		filter_time_format(t, out);
	(void)filter_seq_parse(s, &seq);
	if (filter_is_valid(s))
		(void)filter_matches(s, "a/b/$c");
	dec = malloc(len + 1);
	if (filter_unbase64(s, len, dec) > (long)len)
		abort();
	free(dec);
	free(s);
	return 0;
}
