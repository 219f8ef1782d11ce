/* Worker event loops for connection I/O; see ioloop.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"

/* What a shim saw, for the main loop to pass on. */
#define IOBEV_READ	0x01
#define IOBEV_WRITE	0x02
#define IOBEV_EVENT	0x04

struct ioloop;

struct iobev {
	TAILQ_ENTRY(iobev)	 entry;		/* loop->queue */
	struct ioloop		*loop;
	struct bufferevent	*bev;
	/* the user's, main thread only */
	bufferevent_data_cb	 readcb, writecb;
	bufferevent_event_cb	 eventcb;
	void			*arg;
	bool			 running;	/* in iobev_run */
	bool			 freed;		/* fh_iobev_free'd while so */
	/* under bev's lock */
	short			 pending;	/* IOBEV_* */
	short			 what;		/* BEV_EVENT_* seen */
	int			 err;		/* errno with them */
	/* under loop->mtx */
	bool			 queued;
};

TAILQ_HEAD(iobev_queue, iobev);

struct ioloop {
	struct event_base	*base;
	pthread_t		 thread;
	bool			 running;
	struct event		*wake;		/* on the main base */
	pthread_mutex_t		 mtx;
	struct iobev_queue	 queue;
	size_t			 nqueued;
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

/* Worker, with bev's lock held: note it, queue it for the main loop. */
static void
iobev_note(struct iobev *h, short flag)
{
	struct ioloop	*l = h->loop;
	bool		 wake = false;

	h->pending |= flag;
	pthread_mutex_lock(&l->mtx);
	if (!h->queued) {
		h->queued = true;
		TAILQ_INSERT_TAIL(&l->queue, h, entry);
		wake = ++l->nqueued == 1;
	}
	pthread_mutex_unlock(&l->mtx);
	if (wake)
		event_active(l->wake, EV_READ, 0);
}

static void
iobev_read_shim(struct bufferevent *bev, void *arg)
{
	(void)bev;
	iobev_note(arg, IOBEV_READ);
}

static void
iobev_write_shim(struct bufferevent *bev, void *arg)
{
	(void)bev;
	iobev_note(arg, IOBEV_WRITE);
}

static void
iobev_event_shim(struct bufferevent *bev, short what, void *arg)
{
	struct iobev	*h = arg;

	(void)bev;
	h->what |= what;
	h->err = EVUTIL_SOCKET_ERROR();
	iobev_note(h, IOBEV_EVENT);
}

static bool
iobev_drained(struct bufferevent *bev)
{
	size_t	low = 0;

	bufferevent_getwatermark(bev, EV_WRITE, &low, NULL);
	return evbuffer_get_length(bufferevent_get_output(bev)) <= low;
}

/* Main: the user's callbacks for what the worker saw, in libevent's
 * order (read, write, event). Any of them may free the bufferevent. */
static void
iobev_run(struct iobev *h)
{
	struct bufferevent	*bev = h->bev;
	short			 pending, what;
	int			 err;

	bufferevent_lock(bev);
	pending = h->pending;
	what = h->what;
	err = h->err;
	h->pending = 0;
	h->what = 0;
	bufferevent_unlock(bev);
	h->running = true;
	if ((pending & IOBEV_READ) && h->readcb != NULL)
		h->readcb(bev, h->arg);
	/* The write may be older than a writecb the read just set (close
	 * after flush): only as libevent would, with the output drained. */
	if (!h->freed && (pending & IOBEV_WRITE) && h->writecb != NULL &&
	    iobev_drained(bev))
		h->writecb(bev, h->arg);
	if (!h->freed && (pending & IOBEV_EVENT) && h->eventcb != NULL) {
		EVUTIL_SET_SOCKET_ERROR(err);
		h->eventcb(bev, what, h->arg);
	}
	h->running = false;
	if (h->freed)
		free(h);
}

/*
 * Main: run what one worker queued. At most what was there on entry, so
 * that a busy worker cannot keep the main loop from its other events.
 */
static void
ioloop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ioloop	*l = arg;
	struct iobev	*h;
	size_t		 n;
	bool		 more;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&l->mtx);
	n = l->nqueued;
	pthread_mutex_unlock(&l->mtx);
	while (n-- > 0) {
		pthread_mutex_lock(&l->mtx);
		if ((h = TAILQ_FIRST(&l->queue)) != NULL) {
			TAILQ_REMOVE(&l->queue, h, entry);
			h->queued = false;
			l->nqueued--;
		}
		pthread_mutex_unlock(&l->mtx);
		if (h == NULL)
			break;
		iobev_run(h);
	}
	pthread_mutex_lock(&l->mtx);
	more = l->nqueued > 0;
	pthread_mutex_unlock(&l->mtx);
	if (more)
		event_active(l->wake, EV_READ, 0);
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

		pthread_mutex_init(&l->mtx, NULL);
		TAILQ_INIT(&l->queue);
		set->n++;
		if ((l->base = event_base_new()) == NULL ||
		    (l->wake = event_new(main, -1, 0, ioloop_wake_cb,
		    l)) == NULL) {
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
	return set;
}

void
fh_ioloops_stop(struct fh_ioloops *set)
{
	int	i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		struct ioloop	*l = &set->loops[i];

		if (l->running) {
			event_base_loopexit(l->base, NULL);
			pthread_join(l->thread, NULL);
		}
		/* runs the finalizers of bufferevents freed last */
		if (l->base != NULL)
			event_base_free(l->base);
		if (l->wake != NULL)
			event_free(l->wake);
		pthread_mutex_destroy(&l->mtx);
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

struct bufferevent *
fh_iobev_socket_new(struct fh_ioloops *set, evutil_socket_t fd)
{
	struct ioloop		*l;
	struct bufferevent	*bev;
	struct iobev		*h;

	if (set->n == 0)
		return bufferevent_socket_new(set->main, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	l = &set->loops[set->next++ % (unsigned)set->n];
	if ((bev = bufferevent_socket_new(l->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE)) == NULL)
		return NULL;
	h = fh_xcalloc(1, sizeof *h);
	h->loop = l;
	h->bev = bev;
	l->handed++;
	l->open++;
	bufferevent_setcb(bev, iobev_read_shim, iobev_write_shim,
	    iobev_event_shim, h);
	return bev;
}

static struct iobev *
iobev_of(struct bufferevent *bev)
{
	bufferevent_data_cb	 readcb;
	void			*arg;

	bufferevent_getcb(bev, &readcb, NULL, NULL, &arg);
	return readcb == iobev_read_shim ? arg : NULL;
}

bool
fh_iobev_threaded(struct bufferevent *bev)
{
	return iobev_of(bev) != NULL;
}

void
fh_iobev_setcb(struct bufferevent *bev, bufferevent_data_cb readcb,
    bufferevent_data_cb writecb, bufferevent_event_cb eventcb, void *arg)
{
	struct iobev	*h = iobev_of(bev);

	if (h == NULL) {
		bufferevent_setcb(bev, readcb, writecb, eventcb, arg);
		return;
	}
	h->readcb = readcb;
	h->writecb = writecb;
	h->eventcb = eventcb;
	h->arg = arg;
}

void
fh_iobev_free(struct bufferevent *bev)
{
	struct iobev	*h = iobev_of(bev);
	struct ioloop	*l;

	/* Under its lock the shims are unset: none runs once this is
	 * back, and the worker finalizes bev (libevent waits for a
	 * callback of it that is running there). */
	bufferevent_free(bev);
	if (h == NULL)
		return;
	l = h->loop;
	l->open--;
	pthread_mutex_lock(&l->mtx);
	if (h->queued) {
		TAILQ_REMOVE(&l->queue, h, entry);
		h->queued = false;
		l->nqueued--;
	}
	pthread_mutex_unlock(&l->mtx);
	if (h->running)
		h->freed = true;
	else
		free(h);
}
