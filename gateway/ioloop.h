/*
 * I/O loops: with [gateway] threads = N > 1, N - 1 worker threads each
 * run an event loop that does the writing of the plain TCP and MQTT/TLS
 * connections given to it: writev() (SSL_write() and its encryption for
 * TLS) and the write timeout. Everything else stays on
 * the main loop, single-threaded as with threads = 1: the broker, the
 * sources, the store, every read (so messages from different clients are
 * taken in the same order as on one loop), WebSocket connections.
 * docs/performance.md says why.
 *
 * Such a connection (plain TCP, or TLS once its handshake is done) is a
 * bufferevent of the main base whose write event sits on a worker's
 * base. Its callbacks are deferred, so they run on the
 * main loop even when the worker's write is what triggers them; only the
 * callbacks of its output evbuffer run on the worker (keep them to
 * atomics, or hand over with event_active). Free it with fh_iobev_free.
 */
#ifndef FH_IOLOOP_H
#define FH_IOLOOP_H

#include <stdbool.h>

#include <event2/bufferevent.h>
#include <event2/util.h>
#include <jansson.h>

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
/* "threads", and per worker "connections" (so far) and "open" (with a
 * bufferevent on it now). */
void			 fh_ioloops_stats(const struct fh_ioloops *, json_t *);

/* The number of CPUs online, at least 1: the default of threads. */
int			 fh_ioloop_ncpu(void);

/* A socket bufferevent writing on the next worker (round robin),
 * closing fd on free; a plain one on main when there is no worker. NULL
 * on failure (fd is not closed then). */
struct bufferevent	*fh_iobev_socket_new(struct fh_ioloops *loops,
			    evutil_socket_t fd);
/* For another kind of bufferevent (OpenSSL's): the options to make it
 * with, then fh_iobev_hand() once nothing reassigns its events any more
 * (after the TLS handshake). Both do nothing without workers. */
int			 fh_iobev_options(const struct fh_ioloops *loops);
void			 fh_iobev_hand(struct fh_ioloops *loops,
			    struct bufferevent *bev);
/* Does bev (or the bufferevent under its filters) write on a worker?
 * Its output is then drained by that thread. */
bool			 fh_iobev_threaded(struct bufferevent *bev);
/* bufferevent_free(), for every bufferevent that may be threaded. */
void			 fh_iobev_free(struct bufferevent *bev);
/* An idle connection parked (sinks/mqtt/broker.c): its socket
 * bufferevent, with nothing in its buffers, freed and its socket kept
 * and returned; and a new one made for that socket again. Its worker
 * counts it "open" only while it has a bufferevent. */
evutil_socket_t		 fh_iobev_release(struct bufferevent *bev);
struct bufferevent	*fh_iobev_socket_resume(struct fh_ioloops *loops,
			    evutil_socket_t fd);

#endif
