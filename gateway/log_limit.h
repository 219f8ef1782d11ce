/*
 * Rate-limited log lines, keyed by the peer's address: what a scanner or
 * a broken client can make us say (malformed packets, failed TLS
 * handshakes) comes out as one line per source address per interval, then
 * one line with the count of what was held back, so that it cannot fill
 * the log. The table of addresses is bounded: when it is full, new
 * addresses share one "other addresses" entry.
 */
#ifndef FH_LOG_LIMIT_H
#define FH_LOG_LIMIT_H

#include <stddef.h>

struct event_base;
struct fh_log_limit;

#define FH_LOG_LIMIT_INTERVAL_MS	60000	/* one line per minute */
#define FH_LOG_LIMIT_ADDRS		256

/*
 * what names the lines in the count ("malformed-connection warnings");
 * prefix starts it ("mqtt", "listener tls"). The counts are logged from a
 * timer on base when an address's interval ends, and by free().
 */
struct fh_log_limit	*fh_log_limit_create(struct event_base *base,
			    const char *prefix, const char *what,
			    long interval_ms, size_t max_addrs);
void			 fh_log_limit_free(struct fh_log_limit *);

/*
 * Log fmt at level unless a line for addr ("127.0.0.1:5555",
 * "[::1]:5555"; the port is ignored) already went out in this interval,
 * in which case it is only counted. NULL lim logs every line.
 */
void			 fh_log_limited(struct fh_log_limit *lim, int level,
			    const char *addr, const char *fmt, ...)
			    __attribute__((format(printf, 4, 5)));
/* Lines held back since start, over all addresses. */
unsigned long long	 fh_log_limit_suppressed(const struct fh_log_limit *);

#endif
