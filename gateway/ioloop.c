/* Worker event loops for connections' writes; see ioloop.h. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"

struct ioloop {
	struct event_base	*base;
	pthread_t		 thread;
	bool			 running;
	/* main thread only */
	uint64_t		 handed;	/* connections given it */
	uint64_t		 open;
};

struct fh_ioloops {
	struct event_base	*main;
	struct ioloop		*loops;		/* the workers */
	int			 n;
	unsigned		 next;
};

/* Without libevent's locking (a unit test, a fuzzer) there are no
 * workers: every loop is the main one. */
static bool	ioloop_locking;
/* The daemon's one set, for fh_iobev_free's count. */
static struct fh_ioloops	*ioloop_set;

void
fh_ioloop_init(void)
{
	if (evthread_use_pthreads() != 0)
		fh_fatal("evthread_use_pthreads failed");
	ioloop_locking = true;
}

int
fh_ioloop_ncpu(void)
{
	long	n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void *
ioloop_thread(void *arg)
{
	struct ioloop	*l = arg;

	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

struct fh_ioloops *
fh_ioloops_start(struct event_base *main, int nthreads, char **errstr)
{
	struct fh_ioloops	*set = fh_xcalloc(1, sizeof *set);
	sigset_t		 all, old;
	int			 i, rc;

	set->main = main;
	if (nthreads <= 1 || !ioloop_locking)
		return set;
	set->loops = fh_xcalloc((size_t)nthreads - 1, sizeof *set->loops);
	/* Signals are the main loop's: the workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < nthreads - 1; i++) {
		struct ioloop	*l = &set->loops[i];

		set->n++;
		if ((l->base = event_base_new()) == NULL) {
			*errstr = fh_xasprintf("threads: cannot make event "
			    "loop %d", i + 2);
			break;
		}
		if ((rc = pthread_create(&l->thread, NULL, ioloop_thread,
		    l)) != 0) {
			*errstr = fh_xasprintf("threads: cannot start thread "
			    "%d: %s", i + 2, strerror(rc));
			break;
		}
		l->running = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < nthreads - 1) {
		fh_ioloops_stop(set);
		return NULL;
	}
	ioloop_set = set;
	return set;
}

void
fh_ioloops_stop(struct fh_ioloops *set)
{
	int	i;

	if (set == NULL)
		return;
	if (ioloop_set == set)
		ioloop_set = NULL;
	for (i = 0; i < set->n; i++) {
		struct ioloop	*l = &set->loops[i];

		if (l->running) {
			event_base_loopexit(l->base, NULL);
			pthread_join(l->thread, NULL);
		}
		if (l->base != NULL)
			event_base_free(l->base);
	}
	free(set->loops);
	free(set);
}

int
fh_ioloops_count(const struct fh_ioloops *set)
{
	return set == NULL ? 1 : set->n + 1;
}

void
fh_ioloops_stats(const struct fh_ioloops *set, json_t *o)
{
	char	name[32];
	int	i;

	json_object_set_new(o, "threads", json_integer(fh_ioloops_count(set)));
	for (i = 0; set != NULL && i < set->n; i++) {
		snprintf(name, sizeof name, "worker%d", i + 1);
		json_object_set_new(o, name, json_pack("{s:I,s:I}",
		    "connections", (json_int_t)set->loops[i].handed,
		    "open", (json_int_t)set->loops[i].open));
	}
}

/* Put bev's write event (its writev() and write timeout) on base. It
 * must not be pending there, nor its callback running. */
static void
iobev_move_write(struct bufferevent *bev, struct event_base *base)
{
	struct event	*w = &bev->ev_write;

	event_assign(w, base, event_get_fd(w), event_get_events(w),
	    event_get_callback(w), event_get_callback_arg(w));
}

int
fh_iobev_options(const struct fh_ioloops *set)
{
	/* Callbacks deferred: they run on the bufferevent's base, the main
	 * one, also when the worker's write is what calls them. Unlocked:
	 * the broker's callbacks write to other connections. */
	return set != NULL && set->n > 0 ? BEV_OPT_THREADSAFE |
	    BEV_OPT_DEFER_CALLBACKS | BEV_OPT_UNLOCK_CALLBACKS : 0;
}

static void
iobev_hand(struct fh_ioloops *set, struct bufferevent *bev, bool resumed)
{
	struct ioloop	*l;
	struct event	*w = &bev->ev_write;
	bool		 pending;

	if (set == NULL || set->n == 0 || fh_iobev_threaded(bev))
		return;
	l = &set->loops[set->next++ % (unsigned)set->n];
	/* OpenSSL's may be waiting to write (the handshake's end): move it
	 * unpending, then wait again there */
	bufferevent_lock(bev);
	pending = event_pending(w, EV_WRITE, NULL) != 0;
	event_del(w);
	iobev_move_write(bev, l->base);
	if (pending)
		event_add(w, evutil_timerisset(&bev->timeout_write) ?
		    &bev->timeout_write : NULL);
	bufferevent_unlock(bev);
	if (!resumed)
		l->handed++;
	l->open++;
}

void
fh_iobev_hand(struct fh_ioloops *set, struct bufferevent *bev)
{
	iobev_hand(set, bev, false);
}

static struct bufferevent *
iobev_socket(struct fh_ioloops *set, evutil_socket_t fd, bool resumed)
{
	struct bufferevent	*bev;

	if ((bev = bufferevent_socket_new(set->main, fd,
	    BEV_OPT_CLOSE_ON_FREE | fh_iobev_options(set))) == NULL)
		return NULL;
	iobev_hand(set, bev, resumed);
	return bev;
}

struct bufferevent *
fh_iobev_socket_new(struct fh_ioloops *set, evutil_socket_t fd)
{
	return iobev_socket(set, fd, false);
}

struct bufferevent *
fh_iobev_socket_resume(struct fh_ioloops *set, evutil_socket_t fd)
{
	return iobev_socket(set, fd, true);
}

static struct ioloop *
iobev_loop(struct bufferevent *bev)
{
	struct event_base	*wb = event_get_base(&bev->ev_write);
	struct fh_ioloops	*set = ioloop_set;
	int			 i;

	for (i = 0; set != NULL && i < set->n; i++)
		if (set->loops[i].base == wb)
			return &set->loops[i];
	return NULL;
}

/* The bufferevent at the bottom of a filter chain: the one on the fd. */
static struct bufferevent *
iobev_bottom(struct bufferevent *bev)
{
	struct bufferevent	*u;

	while ((u = bufferevent_get_underlying(bev)) != NULL)
		bev = u;
	return bev;
}

/* Is bev's own write event on another base than bev (a worker's)? */
static bool
iobev_is_moved(struct bufferevent *bev)
{
	return event_get_base(&bev->ev_write) != bufferevent_get_base(bev);
}

bool
fh_iobev_threaded(struct bufferevent *bev)
{
	return iobev_is_moved(iobev_bottom(bev));
}

/* bev's write event back from its worker, before libevent frees it on
 * the main base: wait for a write the worker may be in (never holding
 * bev's lock here: that write takes it). */
static void
iobev_unhand(struct bufferevent *bev)
{
	struct ioloop	*l;

	if (!iobev_is_moved(bev))
		return;
	if ((l = iobev_loop(bev)) != NULL)
		l->open--;
	event_del_block(&bev->ev_write);
	iobev_move_write(bev, bufferevent_get_base(bev));
}

void
fh_iobev_free(struct bufferevent *bev)
{
	iobev_unhand(bev);
	bufferevent_free(bev);
}

evutil_socket_t
fh_iobev_release(struct bufferevent *bev)
{
	evutil_socket_t	fd = bufferevent_getfd(bev);

	iobev_unhand(bev);
	bufferevent_setfd(bev, -1);	/* not closed on free */
	bufferevent_free(bev);
	return fd;
}
