/*
 * Readers: a cursor over the log for one consumer (an SSE stream, an
 * MQTT $replay subscription). The backlog is read in pages, only while
 * the consumer can take more; when a page comes back short the reader has
 * reached the head and, in the same turn, joins the live readers that
 * log_publish() feeds. Everything runs on the one loop, so nothing can be
 * appended between the last backlog row and going live: no gap, no
 * duplicate at the seam.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gateway/gateway.h"
#include "gateway/xmalloc.h"
#include "sinks/log/filter.h"
#include "sinks/log/log_int.h"
#include "sinks/log/store.h"

struct log_reader *
log_reader_new(struct log *l, const struct log_reader_ops *ops, void *arg)
{
	struct log_reader	*r = fh_xcalloc(1, sizeof *r);

	r->log = l;
	r->ops = ops;
	r->arg = arg;
	r->since_us = INT64_MIN;
	r->until_us = INT64_MAX;
	return r;
}

bool
log_reader_add_filter(struct log_reader *r, const char *f)
{
	if (r->nfilters == LOG_FILTERS_MAX)
		return false;
	r->filters[r->nfilters++] = fh_xstrdup(f);
	return true;
}

void
log_reader_start(struct log_reader *r)
{
	TAILQ_INSERT_TAIL(&r->log->readers, r, entry);
	r->log->nreaders++;
	log_pump_schedule(r->log);
}

void
log_reader_discard(struct log_reader *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nfilters; i++)
		free(r->filters[i]);
	free(r->user);
	free(r);
}

void
log_reader_free(struct log_reader *r)
{
	TAILQ_REMOVE(&r->log->readers, r, entry);
	r->log->nreaders--;
	log_reader_discard(r);
}

bool
log_reader_wants(struct log_reader *r, const struct store_row *row)
{
	size_t	i;

	if (row->time_us < r->since_us || row->time_us >= r->until_us)
		return false;
	for (i = 0; i < r->nfilters; i++)
		if (filter_matches(r->filters[i], row->topic))
			break;
	if (i == r->nfilters)
		return false;
	return r->own_acl ||
	    fh_gateway_may_read(r->log->gw, r->user, row->topic);
}

void
log_pump_schedule(struct log *l)
{
	struct timeval	now = { 0, 0 };

	/* (Re)armed at zero: a pending retry is brought forward. */
	if (l->pump_ev != NULL)
		event_add(l->pump_ev, &now);
}

struct reader_page {
	struct log_reader	*r;
	int			 rc;	/* of the last row: 0, 1 or -1 */
	uint64_t		 done;	/* the last seq handled */
};

static int
log_reader_row_cb(const struct store_row *row, void *arg)
{
	struct reader_page	*p = arg;
	struct log_reader	*r = p->r;

	if (log_reader_wants(r, row)) {
		p->rc = r->ops->row(r, row);
		if (p->rc == 1 || p->rc < 0)
			return 1;	/* this row not taken */
		if (p->rc == 0) {
			r->sent++;
			r->log->served++;
		}
		p->rc = 0;
	}
	p->done = row->seq;
	return 0;
}

enum reader_step {
	STEP_DONE,		/* live, or over */
	STEP_MORE,		/* more backlog, the consumer can take it */
	STEP_BLOCKED,		/* the consumer is full */
};

/* One backlog step. */
static enum reader_step
log_reader_step(struct log_reader *r)
{
	struct reader_page	p;
	uint64_t		last;
	long			n;

	if (r->ops->busy(r))
		return STEP_BLOCKED;
	p.r = r;
	p.rc = 0;
	p.done = r->after;
	n = store_read(r->log->store, r->after, r->until_us, LOG_PAGE_ROWS,
	    log_reader_row_cb, &p, &last);
	r->after = p.done;
	if (p.rc < 0 || n < 0) {
		r->dead = true;
		return STEP_DONE;
	}
	if (p.rc == 1)
		return STEP_BLOCKED;
	if (n < LOG_PAGE_ROWS) {
		/* The head. until= makes the read stop early: done too. */
		if (r->until_us == INT64_MAX)
			r->after = store_head(r->log->store);
		if (!r->ops->caught_up(r)) {
			r->dead = true;
			return STEP_DONE;
		}
		r->live = true;
		return STEP_DONE;
	}
	return STEP_MORE;
}

void
log_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct log		*l = arg;
	struct log_reader	*r, *next;
	struct timeval		 now = { 0, 0 };
	bool			 more = false;

	(void)fd;
	(void)what;
	for (r = TAILQ_FIRST(&l->readers); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->live || r->dead)
			continue;
		switch (log_reader_step(r)) {
		case STEP_MORE:
			more = true;
			break;
		case STEP_BLOCKED:	/* its consumer wakes the pump */
		case STEP_DONE:
			break;
		}
		if (r->dead)
			log_reader_free(r);
	}
	/* More at once, but after the loop's I/O (a zero timeout). A full
	 * consumer is not polled: it calls log_pump_schedule() when it
	 * drained (an SSE stream's drained callback, the broker's
	 * fh_gateway_replay_resume()). */
	if (l->pump_ev != NULL && more)
		event_add(l->pump_ev, &now);
}

void
log_readers_live(struct log *l, const struct store_row *row)
{
	struct log_reader	*r, *next;
	int			 rc;

	for (r = TAILQ_FIRST(&l->readers); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (!r->live)
			continue;
		if (!log_reader_wants(r, row)) {
			r->after = row->seq;
			continue;
		}
		if ((rc = r->ops->row(r, row)) < 0) {
			log_reader_free(r);
			continue;
		}
		if (rc == 1) {
			/* Full while live: back to paging from here. */
			r->live = false;
			log_pump_schedule(l);
			continue;
		}
		r->after = row->seq;
		if (rc == 0) {
			r->sent++;
			l->served++;
		}
	}
}

void
log_readers_free_all(struct log *l)
{
	struct log_reader	*r;

	while ((r = TAILQ_FIRST(&l->readers)) != NULL) {
		if (r->ops->cancel != NULL)
			r->ops->cancel(r);
		log_reader_free(r);
	}
}
