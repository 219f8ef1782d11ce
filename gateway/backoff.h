/* Exponential backoff with jitter, for every reconnect to an upstream. */
#ifndef FH_BACKOFF_H
#define FH_BACKOFF_H

struct fh_backoff {
	long	min_ms;
	long	max_ms;
	long	cur_ms;
};

void	fh_backoff_init(struct fh_backoff *, long min_ms, long max_ms);
/* The next delay: uniform in [cur/2, cur], then cur doubles up to max. */
long	fh_backoff_next(struct fh_backoff *);
void	fh_backoff_reset(struct fh_backoff *);

#endif
