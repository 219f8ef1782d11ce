/* libFuzzer: the Launchpad mail parser, MIME decoder and IMAP lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "sources/launchpad/lp_imap.h"
#include "sources/launchpad/lp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lp_parse_opts	 o = { "launchpad", 4096 };
	struct lp_imap_line	 l;
	json_t			*ev;
	uint32_t		*u = NULL, v;
	size_t			 n;
	char			*s;

	lp_parse_mail(data, size, &o, &ev);
	/* every event must serialize: valid UTF-8 everywhere */
	s = json_dumps(ev, JSON_COMPACT);
	if (s == NULL)
		abort();
	free(s);
	json_decref(ev);
	lp_imap_parse_line(data, size, &l);
	if (lp_imap_parse_search(data, size, &u, &n, 1000) == 0)
		free(u);
	lp_imap_parse_uidvalidity(data, size, &v);
	return 0;
}
