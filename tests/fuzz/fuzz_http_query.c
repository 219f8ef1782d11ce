/* libFuzzer: the query-string and percent decoders of gateway/http.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct fh_http_params	 p;
	const char		*why;
	char			*s;
	size_t			 i;

	if (fh_http_query_parse((const char *)buf, len, &p, &why) == 0) {
		for (i = 0; i < p.n; i++)
			if (strlen(p.names[i]) > len ||
			    strlen(p.values[i]) > len)
				abort();
		fh_http_params_clear(&p);
	}
	if ((s = fh_http_pct_decode((const char *)buf, len, false)) != NULL) {
		if (strlen(s) > len)
			abort();
		free(s);
	}
	return 0;
}
