/* libFuzzer: the ansible callback body parser. */
#include <stddef.h>
#include <stdint.h>

#include "sources/ansible/ansible_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	size_t				 n;

	if (ansible_parse(data, size, "ansible", &evs, &n, &err) == 0)
		ansible_events_free(evs, n);
	return 0;
}
