/*
 * Limits: what queued messages and output buffers cost, max_queued_messages,
 * max_queued_bytes, max_memory, max_output_buffer_hard; and giving the
 * heap back after a storm of connections.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>	/* mallctl */
#elif defined(__GLIBC__)
#include <malloc.h>		/* malloc_trim */
#endif
#include "gateway/log.h"
#include "sinks/mqtt/broker_int.h"

/* Trim the heap after this many connections have come and half gone,
 * or a second after the last of the sweeps that parked this many. */
#define LIMITS_TRIM_PEAK	1000
#define LIMITS_TRIM_PARKED	250

bool
limits_conn_over_hard_cap(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;

	if (b->conf.max_output_buffer_hard == 0 ||
	    broker_outlen(c) <= b->conf.max_output_buffer_hard)
		return false;
	b->drop_slow_disconnect++;
	broker_out_drain(c);
	broker_conn_disconnect(c, MQTT_RC_QUOTA_EXCEEDED, "output buffer "
	    "over max_output_buffer_hard (slow consumer)", true);
	return true;
}

bool
limits_receive_max_exceeded(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;
	size_t			 used, i;

	if (c->level != MQTT_PROTO_5)
		return false;
	/* not yet completed: QoS 2 until PUBREL, QoS 1 until its PUBACK
	 * (which waits only for a store commit); a PUBREC that waits too
	 * is counted once, as its id is in in_qos2 */
	used = c->sess->nin_qos2;
	for (i = 0; i < c->nacks; i++)
		if ((c->acks[c->acks_head + i] >> 16) == MQTT_PUBACK)
			used++;
	if (used < (size_t)b->conf.max_inflight_messages)
		return false;
	b->err_receive_max++;
	broker_conn_disconnect(c, MQTT_RC_RECEIVE_MAX_EXCEEDED, "more QoS 1/2 "
	    "messages in flight than the receive maximum", true);
	return true;
}

/*
 * What a queued or in-flight message costs its session: topic, payload and
 * the bookkeeping. A message shared by several sessions counts for each.
 */
size_t
limits_msg_cost(const struct mqtt_msg *m)
{
	return m->topic_len + m->payload_len + sizeof(struct mqtt_out);
}

size_t
limits_mem_used(const struct mqtt_broker *b)
{
	return b->mem_queued + b->mem_out;
}

/*
 * Over max_memory? One log line when the state changes: on above the
 * ceiling, off below 90 % of it.
 */
bool
limits_mem_over(struct mqtt_broker *b)
{
	size_t	used = limits_mem_used(b), max = b->conf.max_memory;

	if (max == 0)
		return false;
	if (!b->mem_over && used > max) {
		b->mem_over = true;
		fh_log(LOG_WARNING, "mqtt: memory over max_memory (%zu > %zu "
		    "bytes): refusing new QoS 1/2 queueing, QoS 0 to slow "
		    "clients and new connections", used, max);
	} else if (b->mem_over && used < max / 10 * 9) {
		b->mem_over = false;
		fh_log(LOG_INFO, "mqtt: memory back under max_memory (%zu "
		    "bytes)", used);
	}
	return b->mem_over;
}

/*
 * Count what a connection's output buffer and stage hold, as they change.
 * Called under the buffer's lock: for a threaded connection's output
 * (gateway/ioloop.h) by the worker that drains it, for its stage by the
 * main loop, so both counts are atomic. Both buffers are empty when the
 * callback is added.
 */
void
limits_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct mqtt_conn	*c = arg;
	struct mqtt_broker	*b = c->b;

	(void)buf;
	if (info->n_added > 0) {
		atomic_fetch_add_explicit(&c->outlen, info->n_added,
		    memory_order_relaxed);
		atomic_fetch_add_explicit(&b->mem_out, info->n_added,
		    memory_order_relaxed);
	}
	if (info->n_deleted > 0) {
		atomic_fetch_sub_explicit(&c->outlen, info->n_deleted,
		    memory_order_relaxed);
		atomic_fetch_sub_explicit(&b->mem_out, info->n_deleted,
		    memory_order_relaxed);
	}
}

void
limits_queue_account(struct mqtt_session *s, size_t add, size_t del)
{
	struct mqtt_broker	*b = s->b;

	s->qbytes += add;
	b->mem_queued += add;
	if (del > s->qbytes)
		del = s->qbytes;
	s->qbytes -= del;
	b->mem_queued -= del;
}

/* A full session has room again below half of both limits. */
void
limits_queue_check_room(struct mqtt_session *s)
{
	struct mqtt_broker	*b = s->b;

	if (!s->full ||
	    s->nqueued > b->conf.max_queued_messages / 2 ||
	    (b->conf.max_queued_bytes > 0 &&
	    s->qbytes > b->conf.max_queued_bytes / 2) || b->mem_over)
		return;
	s->full = false;
	b->sessions_full--;
	fh_log(LOG_INFO, "mqtt %s: queue has room again (%llu QoS 1/2 "
	    "messages were refused)", s->id, (unsigned long long)s->refused);
	s->refused = 0;
}

/*
 * May m (QoS 1/2) wait in s's queue? Over max_queued_messages,
 * max_queued_bytes or max_memory it is refused for this session only:
 * counted, one warning when the session becomes full.
 */
bool
limits_queue_admit(struct mqtt_session *s, const struct mqtt_msg *m)
{
	struct mqtt_broker	*b = s->b;
	const char		*why;

	if (s->nqueued >= b->conf.max_queued_messages) {
		b->drop_queue_full++;
		why = "max_queued_messages";
	} else if (b->conf.max_queued_bytes > 0 &&
	    s->qbytes + limits_msg_cost(m) > b->conf.max_queued_bytes) {
		b->drop_queue_bytes++;
		why = "max_queued_bytes";
	} else if (limits_mem_over(b)) {
		b->drop_memory++;
		why = "max_memory";
	} else {
		limits_queue_check_room(s);
		return true;
	}
	s->refused++;
	if (!s->full) {
		s->full = true;
		b->sessions_full++;
		fh_log(LOG_WARNING, "mqtt %s: queue full (%s; %d messages, "
		    "%zu bytes): refusing new QoS 1/2 messages for it", s->id,
		    why, s->nqueued, s->qbytes);
	}
	return false;
}

static void
limits_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;

	(void)fd;
	(void)what;
	b->trim_peak = b->nconns;
	session_table_fit(b);
#ifdef HAVE_JEMALLOC
	{
		char		name[32];
		uint64_t	epoch = 1;
		size_t		len = sizeof(epoch), alloc = 0, res = 0;

		/* Every arena's dirty pages back to the system now. */
		snprintf(name, sizeof(name), "arena.%u.purge",
		    (unsigned)MALLCTL_ARENAS_ALL);
		(void)mallctl(name, NULL, NULL, NULL, 0);
		(void)mallctl("epoch", &epoch, &len, &epoch, len);
		len = sizeof(alloc);
		(void)mallctl("stats.allocated", &alloc, &len, NULL, 0);
		len = sizeof(res);
		(void)mallctl("stats.resident", &res, &len, NULL, 0);
		fh_log(LOG_DEBUG, "mqtt: heap trimmed (%zu connections): %zu "
		    "bytes in use, %zu free", b->nconns, alloc,
		    res > alloc ? res - alloc : 0);
		return;
	}
#elif defined(__GLIBC__)
	malloc_trim(0);
#if __GLIBC_PREREQ(2, 33)
	struct mallinfo2 mi = mallinfo2();

	fh_log(LOG_DEBUG, "mqtt: heap trimmed (%zu connections): %zu bytes "
	    "in use, %zu free", b->nconns, mi.uordblks, mi.fordblks);
	return;
#endif
#endif
	fh_log(LOG_DEBUG, "mqtt: heap trimmed (%zu connections)", b->nconns);
}

/* In a second; with again, a second from now even if one is due. */
static void
limits_trim_at(struct mqtt_broker *b, bool again)
{
	struct timeval	tv = { 1, 0 };

	if (b->base == NULL)
		return;
	if (b->trim_ev == NULL)
		b->trim_ev = evtimer_new(b->base, limits_trim_cb, b);
	if (again || !evtimer_pending(b->trim_ev, NULL))
		evtimer_add(b->trim_ev, &tv);
}

/*
 * After a storm of connections has gone, give the freed heap back to the
 * system: once, a second after the count fell to half of its peak.
 */
void
limits_trim_check(struct mqtt_broker *b)
{
	if (b->nconns > b->trim_peak)
		b->trim_peak = b->nconns;
	if (b->base == NULL || b->trim_peak < LIMITS_TRIM_PEAK ||
	    b->nconns > b->trim_peak / 2)
		return;
	limits_trim_at(b, false);
}

void
limits_trim_parked(struct mqtt_broker *b, size_t n)
{
	if (n >= LIMITS_TRIM_PARKED)
		limits_trim_at(b, true);
}
