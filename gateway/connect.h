/*
 * Outbound TCP for every source: the name resolved with the daemon's one
 * resolver (fh_gateway_dns), then each of its addresses tried in turn,
 * non-blocking and each with a timeout, until one connects. The callback
 * gets the connected socket (the caller's from then on) or -1 and why
 * ("cannot resolve HOST: ...", "Connection refused"); it runs
 * exactly once, always from the event loop (never inside
 * fh_connect_start), and never after fh_connect_cancel.
 */
#ifndef FH_CONNECT_H
#define FH_CONNECT_H

struct fh_gateway;
struct fh_connect;

typedef void (*fh_connect_cb)(int fd, const char *why, void *arg);

struct fh_connect	*fh_connect_start(struct fh_gateway *, const char *host,
			    int port, long timeout_ms, fh_connect_cb, void *arg);
/* Give up before the callback ran; NULL-safe. */
void			 fh_connect_cancel(struct fh_connect *);

#endif
