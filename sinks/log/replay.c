/*
 * Replay over MQTT: the broker hands a subscription to "$replay/..." to
 * this provider (fh_gateway_set_replay), which reads the matching logged
 * events in seq order and gives them to that client on their original
 * topics, pausing while the client is full (until the broker resumes it),
 * then has the broker send "$replay/done" with {"last_seq":N,"count":M}. Forms: see filter.h
 * and docs/log.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/xmalloc.h"
#include "sinks/log/filter.h"
#include "sinks/log/log_int.h"
#include "sinks/log/store.h"

struct replay {
	struct log			*l;
	struct log_reader		*r;	/* NULL once over */
	const struct fh_replay_sink	*sink;
	void				*ctx;
	int				 in_cb;	/* inside the broker's sink */
	bool				 closed;	/* closed meanwhile */
};

static int64_t
replay_now_us(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int
replay_row(struct log_reader *r, const struct store_row *row)
{
	struct replay	*rp = r->arg;
	struct fh_event	*ev;
	int		 rc;

	/* Row by row: a page must not overrun the client's queue (its
	 * max_queued_messages would drop the rest). */
	rp->in_cb++;
	rc = rp->sink->busy(rp->ctx);
	rp->in_cb--;
	if (rc)
		return 1;
	ev = fh_event_create_raw(row->topic, row->payload, row->len);
	fh_event_set_qos(ev, row->qos);
	fh_event_set_seq(ev, row->seq);
	fh_event_set_origin(ev, "log");
	if (row->props != NULL)
		fh_event_set_props(ev, row->props, row->props_len);
	rp->in_cb++;
	rc = rp->sink->deliver(rp->ctx, ev);
	rp->in_cb--;
	fh_event_unref(ev);
	if (rp->closed) {
		free(rp);
		return -1;	/* the reader goes */
	}
	if (rc < 0) {
		rp->r = NULL;
		return -1;
	}
	return rc == 1 ? 2 : 0;	/* 1: the ACL says no */
}

static bool
replay_busy(struct log_reader *r)
{
	struct replay	*rp = r->arg;

	return rp->sink->busy(rp->ctx);
}

static bool
replay_caught_up(struct log_reader *r)
{
	struct replay	*rp = r->arg;
	char		 msg[96];
	int		 n;

	n = snprintf(msg, sizeof msg, "{\"last_seq\":%llu,\"count\":%llu}",
	    (unsigned long long)r->after, (unsigned long long)r->sent);
	rp->in_cb++;
	rp->sink->done(rp->ctx, msg, (size_t)n);
	rp->in_cb--;
	if (rp->closed)
		free(rp);
	else
		rp->r = NULL;	/* the reader ends; the handle stays inert */
	return false;
}

static void
replay_cancel(struct log_reader *r)
{
	struct replay	*rp = r->arg;

	rp->r = NULL;
}

static const struct log_reader_ops replay_ops = {
	.row = replay_row,
	.busy = replay_busy,
	.caught_up = replay_caught_up,
	.cancel = replay_cancel,
};

static void *
replay_open(void *arg, const char *topic, const char *user,
    const struct fh_replay_sink *sink, void *ctx, const char **why)
{
	struct log		*l = arg;
	struct filter_replay	 spec;
	struct replay		*rp;
	struct log_reader	*r;

	if (!l->running || l->store == NULL) {
		*why = "the event log is off";
		l->replays_refused++;
		return NULL;
	}
	if (filter_replay_parse(topic, replay_now_us(), &spec, why) != 0) {
		l->replays_refused++;
		return NULL;
	}
	rp = fh_xcalloc(1, sizeof *rp);
	rp->l = l;
	rp->sink = sink;
	rp->ctx = ctx;
	r = log_reader_new(l, &replay_ops, rp);
	log_reader_add_filter(r, spec.filter);
	/* The broker applies its ACL with the client id (%c rules). */
	r->own_acl = true;
	(void)user;
	if (spec.by_seq)
		r->after = spec.after_seq;
	else {
		r->since_us = spec.since_us;
		r->after = store_seq_before_time(l->store, spec.since_us);
	}
	rp->r = r;
	l->replays++;
	log_reader_start(r);
	return rp;
}

static void
replay_close(void *handle)
{
	struct replay	*rp = handle;

	if (rp->in_cb > 0) {
		rp->closed = true;	/* freed when the callback returns */
		return;
	}
	if (rp->r != NULL)
		log_reader_free(rp->r);
	free(rp);
}

/* The broker says the client drained: page on (the pump waits for
 * this, it does not poll). */
static void
replay_resume(void *handle)
{
	struct replay	*rp = handle;

	if (rp->r != NULL && !rp->closed)
		log_pump_schedule(rp->l);
}

static const struct fh_replay_ops replay_provider = {
	.open = replay_open,
	.close = replay_close,
	.resume = replay_resume,
};

void
log_replay_register(struct log *l)
{
	fh_gateway_set_replay(l->gw, &replay_provider, l);
}

void
log_replay_unregister(struct log *l)
{
	fh_gateway_set_replay(l->gw, NULL, NULL);
}
