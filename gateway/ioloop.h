/*
 * I/O loops: with [gateway] threads = N > 1, N - 1 worker threads each
 * run an event loop that does the socket work of the plain TCP
 * connections given to it: read(), writev(), the read and write
 * timeouts. Everything else (the broker, the sources, the store, TLS and
 * WebSocket connections) stays on the main loop, single-threaded as with
 * threads = 1. docs/performance.md says why.
 *
 * A connection's bufferevent lives on its worker's base. Its callbacks
 * are not the user's: a shim, run by the worker with the bufferevent's
 * lock held, only notes what happened and queues the connection for the
 * main loop, which then calls the user's callbacks. So no project code
 * runs off the main thread, and the user sees the same callbacks as on a
 * main-loop bufferevent. Use fh_iobev_setcb and fh_iobev_free instead of
 * bufferevent_setcb and bufferevent_free for every bufferevent that may
 * come from fh_iobev_socket_new; on others they do just that.
 */
#ifndef FH_IOLOOP_H
#define FH_IOLOOP_H

#include <stdbool.h>

#include <event2/bufferevent.h>
#include <jansson.h>
#include <event2/util.h>

struct event_base;
struct fh_ioloops;

/* Before the first event_base: libevent's locking (pthreads). */
void			 fh_ioloop_init(void);

/* nthreads loops in all, the main one (on main) included; 1 makes no
 * thread and every fh_iobev is a plain bufferevent on main. NULL with
 * *errstr set when a thread or base cannot be made. */
struct fh_ioloops	*fh_ioloops_start(struct event_base *main,
			    int nthreads, char **errstr);
/* Stop and join the workers; every fh_iobev on them must be freed. */
void			 fh_ioloops_stop(struct fh_ioloops *);
int			 fh_ioloops_count(const struct fh_ioloops *);
/* "threads", and per worker "connections" (so far) and "open". */
void			 fh_ioloops_stats(const struct fh_ioloops *, json_t *);

/* The number of CPUs online, at least 1: the default of threads. */
int			 fh_ioloop_ncpu(void);

/* A socket bufferevent on the next worker (round robin), closing fd on
 * free; on main when loops is NULL or has no worker. NULL on failure
 * (fd is not closed then). */
struct bufferevent	*fh_iobev_socket_new(struct fh_ioloops *loops,
			    evutil_socket_t fd);
/* Does bev live on a worker? Its output is then drained by that thread. */
bool			 fh_iobev_threaded(struct bufferevent *bev);
void			 fh_iobev_setcb(struct bufferevent *bev,
			    bufferevent_data_cb readcb,
			    bufferevent_data_cb writecb,
			    bufferevent_event_cb eventcb, void *arg);
void			 fh_iobev_free(struct bufferevent *bev);

#endif
