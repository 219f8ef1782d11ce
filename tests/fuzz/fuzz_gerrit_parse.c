/* libFuzzer: bytes -> line splitter -> gerrit_parse_line -> fingerprint. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/gerrit/gerrit_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_line_cb(const uint8_t *line, size_t len, int err, void *arg)
{
	char	*topic, *url;
	json_t	*ev;

	(void)arg;
	if (err != 0)
		return;
	if (gerrit_parse_line(line, len, "gerrit", &topic, &ev) != 0)
		return;
	(void)gerrit_fingerprint(ev);
	(void)gerrit_event_project(ev);
	url = gerrit_events_log_url("http://h/e",
	    (time_t)gerrit_event_time(ev), (time_t)gerrit_event_time(ev));
	free(url);
	free(topic);
	json_decref(ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gerrit_lines	l;
	size_t			half = size / 2;

	/* Whole input as one line, then split in two feeds. */
	fuzz_line_cb(data, size, 0, NULL);
	gerrit_lines_init(&l, 4096);
	gerrit_lines_feed(&l, data, half, fuzz_line_cb, NULL);
	gerrit_lines_feed(&l, data + half, size - half, fuzz_line_cb, NULL);
	gerrit_lines_finish(&l, fuzz_line_cb, NULL);
	gerrit_lines_free(&l);
	return 0;
}
