/* libFuzzer: the HTTP request-head parser and the upgrade check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sinks/mqtt/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	static char		*origins[] = { "https://ok.example" };
	struct http_ws_opts	 o = { "/mqtt", origins, 1 };
	struct http_request	 r;
	const char		*why, *sub;
	char			*resp;

	if (http_request_parse(buf, len, &r) <= 0)
		return 0;
	(void)http_header_has_token(&r, "Connection", "upgrade");
	(void)http_is_upgrade(&r);
	if (http_ws_upgrade(&r, &o, &resp, &sub, &why) == 0)
		free(resp);
	return 0;
}
