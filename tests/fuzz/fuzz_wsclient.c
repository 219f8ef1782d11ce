/* libFuzzer: a bridge's parser of the remote's WebSocket upgrade answer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/ws/ws_frame.h"
#include "sinks/bridge/wsclient.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The key of the corpus' good answers (RFC 6455's example). */
#define FUZZ_KEY	"dGhlIHNhbXBsZSBub25jZQ=="

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	char	why[128];
	size_t	used = 0, n;
	int	rc;

	/* whole, then in growing prefixes as the bytes would arrive */
	rc = wsclient_response(buf, len, FUZZ_KEY, &used, why, sizeof why);
	if (rc == 0 && (used > len || used < 4))
		__builtin_trap();
	if (strlen(why) >= sizeof why)
		__builtin_trap();
	for (n = 0; n < len && n < 64; n++) {
		rc = wsclient_response(buf, n, FUZZ_KEY, &used, why,
		    sizeof why);
		if (rc == 0 && used > n)
			__builtin_trap();
	}
	return 0;
}
