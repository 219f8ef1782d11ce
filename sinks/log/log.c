/*
 * The event log sink: owns [log], appends every bus event it keeps to
 * the log table of the shared state file (staged in the turn's batch, so
 * it commits with the broker's state), trims by age and size, and serves
 * replay over HTTP (events.c) and MQTT $replay/ (replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/module.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/log/filter.h"
#include "sinks/log/log.h"
#include "sinks/log/log_int.h"
#include "sinks/log/store.h"

/* With no state_dir the log lives in memory: a smaller default bound. */
#define LOG_MEMORY_MAX_SIZE	(64UL * 1024 * 1024)
#define LOG_TRIM_ROWS		20000	/* per trim run */
#define LOG_HEARTBEAT_SEC	1	/* the beat timer's tick */

static const struct fh_conf_var log_vars[] = {
	FH_CONF_BOOL("enabled", struct log_conf, enabled, "true",
	    "Keep the event log. Default: on with [gateway] state_dir (in "
	    "the state file), off without it. true without state_dir: in "
	    "memory, gone at exit. false: no log, no /v1/events and "
	    "/v1/stream, and $replay/ is a plain topic filter."),
	FH_CONF_DURATION("retention", struct log_conf, retention, "7d",
	    "Events older than this are dropped (checked every second)."),
	FH_CONF_SIZE("max_size", struct log_conf, max_size, "0",
	    "The oldest events are dropped while the log is larger than "
	    "this (topic, payload and properties, plus 32 bytes, per "
	    "event). 0: 1G on disk, 64M in memory."),
	FH_CONF_STR("topics", struct log_conf, topics, "#",
	    "MQTT filters of the topics to keep, separated by commas "
	    "without spaces (a # after white space starts a comment); "
	    "$SYS is never kept."),
	FH_CONF_END
};

static const char *const log_sections[] = { "log", NULL };

static const struct fh_conf_schema log_schema[] = {
	{ .section = "log",
	  .doc = "The event log: every bus event kept for replay over HTTP "
	    "(/v1/events, /v1/stream) and MQTT ($replay/...). One section, "
	    "optional.",
	  .vars = log_vars },
	{ .section = NULL }
};

static void *
log_create(struct fh_gateway *gw)
{
	struct log	*l = fh_xcalloc(1, sizeof *l);

	l->gw = gw;
	TAILQ_INIT(&l->readers);
	return l;
}

static void
log_free_filters(struct log *l)
{
	size_t	i;

	for (i = 0; i < l->nfilters; i++)
		free(l->filters[i]);
	free(l->filters);
	l->filters = NULL;
	l->nfilters = 0;
}

static int
log_configure(void *self, const struct fh_conf *conf, char **errstr)
{
	struct log		*l = self;
	const struct fh_section	*sec = fh_conf_find(conf, "log");
	char			*s, *tok, *save, *where;

	if (sec != NULL && fh_section_name(sec)[0] != '\0') {
		where = fh_section_where(sec, NULL);
		*errstr = fh_xasprintf("%s: [log] takes no name", where);
		free(where);
		return -1;
	}
	if (fh_conf_apply(sec, log_vars, &l->conf, errstr) != 0)
		return -1;
	/* Unasked, a daemon with no state_dir keeps no log: an in-memory
	 * one would hold up to max_size of RSS that nobody sized for. */
	if ((sec == NULL || fh_section_get(sec, "enabled") == NULL) &&
	    fh_gateway_state_dir(l->gw)[0] == '\0')
		l->conf.enabled = false;
	if (l->conf.retention <= 0) {
		where = sec ? fh_section_where(sec, "retention") :
		    fh_xstrdup("default");
		*errstr = fh_xasprintf("%s: retention must be more than 0",
		    where);
		free(where);
		return -1;
	}
	log_free_filters(l);
	s = fh_xstrdup(l->conf.topics);
	for (tok = strtok_r(s, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (!filter_is_valid(tok)) {
			where = fh_section_where(sec, "topics");
			*errstr = fh_xasprintf("%s: topics: bad topic "
			    "filter '%s'", where, tok);
			free(where);
			free(s);
			return -1;
		}
		l->filters = fh_xrealloc(l->filters, (l->nfilters + 1) *
		    sizeof *l->filters);
		l->filters[l->nfilters++] = fh_xstrdup(tok);
	}
	free(s);
	if (l->nfilters == 0 && l->conf.enabled) {
		where = sec ? fh_section_where(sec, "topics") :
		    fh_xstrdup("default");
		*errstr = fh_xasprintf("%s: topics is empty: give filters, "
		    "or set enabled = false", where);
		free(where);
		return -1;
	}
	return 0;
}

static int64_t
log_now_us(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
log_trim(struct log *l)
{
	long	n;

	if (l->store == NULL)
		return;
	n = store_trim(l->store, log_now_us() - (int64_t)l->conf.retention *
	    1000, l->max_size, LOG_TRIM_ROWS);
	if (n > 0)
		fh_log(LOG_DEBUG, "log: retention dropped %ld events", n);
	/* A full run: there may be more to drop than a run takes (events
	 * come faster than LOG_TRIM_ROWS a second); go on next turn. */
	if (n == LOG_TRIM_ROWS && l->trim_more_ev != NULL) {
		struct timeval	now = { 0, 0 };

		event_add(l->trim_more_ev, &now);
	}
}

static void
log_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_trim(arg);
}

static int
log_start(void *self)
{
	struct log		*l = self;
	struct fh_state		*st = fh_gateway_state(l->gw);
	struct event_base	*base = fh_gateway_base(l->gw);
	struct timeval		 tick = { 1, 0 };
	char			*err = NULL;

	if (!l->conf.enabled || l->running)
		return 0;
	if (st == NULL) {
		fh_log(LOG_ERR, "log: no state store");
		return -1;
	}
	l->max_size = l->conf.max_size;
	if (l->max_size == 0)
		l->max_size = fh_state_is_durable(st) ? 1024UL * 1024 * 1024 :
		    LOG_MEMORY_MAX_SIZE;
	if ((l->store = store_open(st, &err)) == NULL) {
		fh_log(LOG_ERR, "log: %s", err);
		free(err);
		return -1;
	}
	l->trim_ev = event_new(base, -1, EV_PERSIST, log_trim_cb, l);
	event_add(l->trim_ev, &tick);
	l->trim_more_ev = evtimer_new(base, log_trim_cb, l);
	l->pump_ev = evtimer_new(base, log_pump_cb, l);
	l->beat_ev = event_new(base, -1, EV_PERSIST, log_heartbeat_cb, l);
	tick.tv_sec = LOG_HEARTBEAT_SEC;
	event_add(l->beat_ev, &tick);
	log_trim(l);
	log_routes_register(l);
	log_replay_register(l);
	l->running = true;
	fh_log(LOG_INFO, "log: %s, %llu events kept (seq up to %llu), "
	    "retention %lds, max_size %zu", fh_state_is_durable(st) ?
	    fh_state_path(st) : "in memory",
	    (unsigned long long)store_rows(l->store),
	    (unsigned long long)store_head(l->store),
	    l->conf.retention / 1000, l->max_size);
	return 0;
}

static void
log_stop(void *self)
{
	struct log	*l = self;

	if (!l->running)
		return;
	l->running = false;
	log_routes_unregister(l);
	log_readers_free_all(l);
	event_free(l->trim_ev);
	event_free(l->trim_more_ev);
	event_free(l->pump_ev);
	event_free(l->beat_ev);
	l->trim_ev = l->trim_more_ev = l->pump_ev = l->beat_ev = NULL;
	/* What is staged commits with the batch (or at fh_state_close). */
	store_close(l->store);
	l->store = NULL;
}

static void
log_destroy(void *self)
{
	struct log	*l = self;

	if (l == NULL)
		return;
	log_stop(l);
	/* Only now: the broker closes its $replay/ handles as it stops,
	 * after the log did. */
	log_replay_unregister(l);
	log_free_filters(l);
	fh_conf_clear(log_vars, &l->conf);
	free(l);
}

static bool
log_keeps(struct log *l, const char *topic, size_t len)
{
	size_t	i;

	if (len >= 4 && memcmp(topic, "$SYS", 4) == 0 &&
	    (len == 4 || topic[4] == '/'))
		return false;
	for (i = 0; i < l->nfilters; i++)
		if (filter_matches(l->filters[i], topic))
			return true;
	return false;
}

static int
log_publish(void *self, struct fh_event *ev)
{
	struct log		*l = self;
	struct store_row	 r;

	if (!l->running)
		return 0;
	memset(&r, 0, sizeof r);
	r.topic = fh_event_topic(ev);
	r.topic_len = fh_event_topic_len(ev);
	if (!log_keeps(l, r.topic, r.topic_len)) {
		l->skipped++;
		return 0;
	}
	r.payload = fh_event_payload(ev, &r.len);
	r.json = fh_event_json(ev) != NULL;
	r.qos = (uint8_t)fh_event_qos(ev);
	r.retain = fh_event_retain(ev);
	r.time_us = fh_event_time_us(ev);
	r.bus_seq = fh_event_seq(ev);
	r.props = fh_event_props(ev, &r.props_len);
	if (store_append(l->store, &r) != 0) {
		l->failed++;
		return 0;	/* counted; the broker must not refuse it */
	}
	log_readers_live(l, &r);
	return 0;
}

static void
log_stats(void *self, json_t *out)
{
	struct log	*l = self;

	json_object_set_new(out, "enabled", json_boolean(l->running));
	if (l->store != NULL)
		store_stats(l->store, out);
	json_object_set_new(out, "max_size", json_integer(
	    (json_int_t)l->max_size));
	json_object_set_new(out, "skipped", json_integer(
	    (json_int_t)l->skipped));
	json_object_set_new(out, "append_failed", json_integer(
	    (json_int_t)l->failed));
	json_object_set_new(out, "http_requests", json_integer(
	    (json_int_t)l->http_requests));
	json_object_set_new(out, "http_bad", json_integer(
	    (json_int_t)l->http_bad));
	json_object_set_new(out, "streams", json_integer(
	    (json_int_t)l->streams));
	json_object_set_new(out, "streams_dropped", json_integer(
	    (json_int_t)l->streams_dropped));
	json_object_set_new(out, "replays", json_integer(
	    (json_int_t)l->replays));
	json_object_set_new(out, "replays_refused", json_integer(
	    (json_int_t)l->replays_refused));
	json_object_set_new(out, "readers", json_integer(
	    (json_int_t)l->nreaders));
	json_object_set_new(out, "served", json_integer(
	    (json_int_t)l->served));
}

const struct fh_sink_ops fh_sink_log = {
	.name = "log",
	.sections = log_sections,
	.schema = log_schema,
	.create = log_create,
	.configure = log_configure,
	.start = log_start,
	.stop = log_stop,
	.destroy = log_destroy,
	.publish = log_publish,
	.stats = log_stats,
};
