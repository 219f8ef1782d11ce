#include <stdlib.h>

#include <openssl/rand.h>

#include "gateway/backoff.h"

void
fh_backoff_init(struct fh_backoff *b, long min_ms, long max_ms)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
	b->cur_ms = b->min_ms;
}

long
fh_backoff_next(struct fh_backoff *b)
{
	unsigned int	r = 0;
	long		half = b->cur_ms / 2, delay;

	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
		r = (unsigned int)random();
	delay = half + (long)(r % (unsigned long)(b->cur_ms - half + 1));
	b->cur_ms = b->cur_ms > b->max_ms / 2 ? b->max_ms : b->cur_ms * 2;
	return delay;
}

void
fh_backoff_reset(struct fh_backoff *b)
{
	b->cur_ms = b->min_ms;
}
