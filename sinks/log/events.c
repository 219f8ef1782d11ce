/*
 * Replay over HTTP, on every ws/wss listener (gateway/http.h):
 *   GET /v1/events  the logged events as a JSON array (or NDJSON with
 *                   Accept: application/x-ndjson), paged;
 *   GET /v1/stream  Server-Sent Events: the backlog, then live events.
 * The MQTT read rules apply (fh_gateway_may_read): anonymous, or the user
 * of an Authorization: Basic header checked against the password file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/xmalloc.h"
#include "sinks/log/filter.h"
#include "sinks/log/log_int.h"
#include "sinks/log/store.h"

#define EVENTS_LIMIT_DEFAULT	1000
#define EVENTS_LIMIT_MAX	10000	/* larger limits are paged */
#define EVENTS_SCAN_MAX		50000	/* rows read per request: the loop
					 * is not held for long */
#define EVENTS_BEAT_DEFAULT	15	/* s between SSE heartbeats */
#define EVENTS_BEAT_MAX		300
#define EVENTS_STREAM_MAX	(1024 * 1024)	/* unsent bytes per stream */

static int64_t
events_now_us(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
events_json_string(struct evbuffer *out, const char *s, size_t len)
{
	json_t	*j = json_stringn(s, len);
	char	*d;

	if (j == NULL) {	/* not UTF-8: cannot happen for topics */
		evbuffer_add(out, "\"\"", 2);
		return;
	}
	d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	evbuffer_add(out, d, strlen(d));
	free(d);
	json_decref(j);
}

static void
events_base64(struct evbuffer *out, const uint8_t *p, size_t len)
{
	char	*b = fh_xmalloc(4 * ((len + 2) / 3) + 1);
	size_t	 n = filter_base64(p, len, b);

	evbuffer_add(out, "\"", 1);
	evbuffer_add(out, b, n);
	evbuffer_add(out, "\"", 1);
	free(b);
}

void
log_event_json(struct evbuffer *out, const struct store_row *r)
{
	char	 when[FILTER_TIME_MAX];
	json_t	*j = NULL;
	char	*d;

	filter_time_format(r->time_us, when);
	evbuffer_add_printf(out, "{\"seq\":%llu,\"time\":\"%s\",\"topic\":",
	    (unsigned long long)r->seq, when);
	events_json_string(out, r->topic, r->topic_len);
	evbuffer_add_printf(out, ",\"qos\":%d,\"retain\":%s,\"payload\":",
	    r->qos, r->retain ? "true" : "false");
	if (r->json) {
		/* A source's payload: compact JSON already, one line. */
		evbuffer_add(out, r->payload, r->len);
	} else if (r->len > 0 && (j = json_loadb((const char *)r->payload,
	    r->len, JSON_DECODE_ANY, NULL)) != NULL) {
		d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		evbuffer_add(out, d, strlen(d));
		free(d);
		json_decref(j);
	} else {
		events_base64(out, r->payload, r->len);
		evbuffer_add_printf(out, ",\"payload_encoding\":\"base64\"");
	}
	if (r->props != NULL && r->props_len > 0) {
		evbuffer_add_printf(out, ",\"properties\":");
		events_base64(out, r->props, r->props_len);
	}
	evbuffer_add(out, "}", 1);
}

/* 400 with a JSON body naming the parameter. */
static void
events_bad(struct log *l, struct fh_http_response *resp, const char *param,
    const char *fmt, const char *arg)
{
	char	*msg = fh_xasprintf(fmt, arg);
	json_t	*o = json_pack("{s:s,s:s}", "error", msg, "parameter", param);
	char	*d = json_dumps(o, JSON_COMPACT);

	l->http_bad++;
	fh_http_reply(resp, 400, "application/json", d, strlen(d));
	free(d);
	json_decref(o);
	free(msg);
}

/* The reader of a request: NULL for anonymous. -1 when refused (the 401
 * is sent). */
static int
events_login(struct log *l, struct fh_http_request *req,
    struct fh_http_response *resp, char **user)
{
	const char	*h = fh_http_header(req, "Authorization");
	uint8_t		*dec;
	char		*colon;
	long		 n;
	size_t		 len;

	*user = NULL;
	if (h == NULL) {
		if (fh_gateway_reader_login(l->gw, NULL, NULL, 0) == 0)
			return 0;
		goto refuse;
	}
	if (strncasecmp(h, "Basic ", 6) != 0)
		goto refuse;
	h += 6;
	len = strlen(h);
	dec = fh_xmalloc(len + 1);
	n = filter_unbase64(h, len, dec);
	if (n < 0 || (colon = memchr(dec, ':', (size_t)n)) == NULL ||
	    memchr(dec, '\0', (size_t)n) != NULL) {
		free(dec);
		goto refuse;
	}
	*colon = '\0';
	if (fh_gateway_reader_login(l->gw, (char *)dec, colon + 1,
	    (size_t)n - (size_t)(colon + 1 - (char *)dec)) != 0) {
		free(dec);
		goto refuse;
	}
	*user = fh_xstrdup((char *)dec);
	free(dec);
	return 0;
refuse:
	l->http_bad++;
	fh_http_add_header(resp, "WWW-Authenticate",
	    "Basic realm=\"firehose\", charset=\"UTF-8\"");
	fh_http_error(resp, 401, "a user of the password file may read here; "
	    "anonymous readers are not allowed");
	return -1;
}

/* What both routes take: topic= (several), since=, seq=, until=, limit=,
 * heartbeat= (streams). */
struct events_args {
	struct log_reader	*r;
	bool			 have_after;
	uint64_t		 after;
	int64_t			 since_us;
	bool			 have_since;
	long			 limit;
	long			 heartbeat;
};

static int
events_parse(struct log *l, struct fh_http_request *req,
    struct fh_http_response *resp, bool stream, struct events_args *a)
{
	const char	*name, *value;
	size_t		 i;
	int64_t		 now = events_now_us(), t;
	uint64_t	 seq;
	char		*end;
	long		 v;

	a->limit = EVENTS_LIMIT_DEFAULT;
	a->heartbeat = EVENTS_BEAT_DEFAULT;
	for (i = 0; fh_http_query_at(req, i, &name, &value); i++) {
		if (strcmp(name, "topic") == 0) {
			if (!filter_is_valid(value)) {
				events_bad(l, resp, "topic", "bad topic "
				    "filter '%s'", value);
				return -1;
			}
			if (!log_reader_add_filter(a->r, value)) {
				events_bad(l, resp, "topic", "%s", "too many "
				    "topic filters (32 at most)");
				return -1;
			}
		} else if (strcmp(name, "since") == 0) {
			if (a->have_after || a->have_since) {
				events_bad(l, resp, "since", "%s", "give one "
				    "of since and seq, once");
				return -1;
			}
			if (filter_time_parse(value, now, &t) != 0) {
				events_bad(l, resp, "since", "bad time '%s': "
				    "RFC 3339 (2026-12-01T10:00:00Z) or a "
				    "duration before now (1h)", value);
				return -1;
			}
			a->since_us = t;
			a->have_since = true;
		} else if (strcmp(name, "seq") == 0) {
			if (a->have_after || a->have_since) {
				events_bad(l, resp, "seq", "%s", "give one "
				    "of since and seq, once");
				return -1;
			}
			if (filter_seq_parse(value, &seq) != 0) {
				events_bad(l, resp, "seq", "bad seq '%s': "
				    "the last seq you have", value);
				return -1;
			}
			a->after = seq;
			a->have_after = true;
		} else if (strcmp(name, "until") == 0 && !stream) {
			if (filter_time_parse(value, now, &t) != 0) {
				events_bad(l, resp, "until", "bad time '%s': "
				    "RFC 3339 or a duration before now", value);
				return -1;
			}
			a->r->until_us = t;
		} else if (strcmp(name, "limit") == 0 && !stream) {
			v = strtol(value, &end, 10);
			if (*value < '0' || *value > '9' || *end != '\0' ||
			    v < 1) {
				events_bad(l, resp, "limit", "bad limit '%s': "
				    "a number from 1", value);
				return -1;
			}
			a->limit = v > EVENTS_LIMIT_MAX ? EVENTS_LIMIT_MAX : v;
		} else if (strcmp(name, "heartbeat") == 0 && stream) {
			v = strtol(value, &end, 10);
			if (*value < '0' || *value > '9' || *end != '\0' ||
			    v < 1 || v > EVENTS_BEAT_MAX) {
				events_bad(l, resp, "heartbeat", "bad "
				    "heartbeat '%s': seconds, 1 to 300", value);
				return -1;
			}
			a->heartbeat = v;
		} else {
			events_bad(l, resp, name, "unknown parameter '%s'",
			    name);
			return -1;
		}
	}
	if (a->r->nfilters == 0)
		log_reader_add_filter(a->r, "#");
	if (a->have_since) {
		a->r->since_us = a->since_us;
		a->after = store_seq_before_time(l->store, a->since_us);
		a->have_after = true;
	}
	return 0;
}

/* ---- GET /v1/events ---- */

struct events_page {
	struct log_reader	*r;
	struct evbuffer		*body;
	bool			 ndjson;
	long			 limit, n;
	uint64_t		 last;		/* last seq consumed */
};

static int
events_page_row_cb(const struct store_row *row, void *arg)
{
	struct events_page	*p = arg;

	p->last = row->seq;
	if (!log_reader_wants(p->r, row))
		return 0;
	if (!p->ndjson && p->n > 0)
		evbuffer_add(p->body, ",\n", 2);
	log_event_json(p->body, row);
	if (p->ndjson)
		evbuffer_add(p->body, "\n", 1);
	return ++p->n >= p->limit;
}

static char *
events_pct(const char *s)
{
	size_t	 len = strlen(s), i, o = 0;
	char	*out = fh_xmalloc(3 * len + 1);

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/:", c) != NULL)
			out[o++] = (char)c;
		else
			o += (size_t)sprintf(out + o, "%%%02X", c);
	}
	out[o] = '\0';
	return out;
}

/* Link: </v1/events?topic=...&seq=N...>; rel="next" */
static void
events_link_next(struct fh_http_request *req, struct fh_http_response *resp,
    uint64_t next)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*name, *value;
	size_t		 i, len;
	char		*enc, *link;

	evbuffer_add_printf(b, "<%s?seq=%llu", fh_http_path(req),
	    (unsigned long long)next);
	for (i = 0; fh_http_query_at(req, i, &name, &value); i++) {
		if (strcmp(name, "since") == 0 || strcmp(name, "seq") == 0)
			continue;
		enc = events_pct(value);
		evbuffer_add_printf(b, "&%s=%s", name, enc);
		free(enc);
	}
	evbuffer_add_printf(b, ">; rel=\"next\"");
	len = evbuffer_get_length(b);
	link = fh_xmalloc(len + 1);
	evbuffer_remove(b, link, len);
	link[len] = '\0';
	fh_http_add_header(resp, "Link", link);
	free(link);
	evbuffer_free(b);
}

static void
events_list(struct fh_http_request *req, struct fh_http_response *resp,
    void *arg)
{
	struct log		*l = arg;
	struct events_args	 a;
	struct events_page	 p;
	const char		*accept = fh_http_header(req, "Accept");
	uint64_t		 cursor, last, head;
	size_t			 scanned = 0;
	long			 n;
	char			 num[32];
	bool			 more = false;

	l->http_requests++;
	if (l->store == NULL) {
		fh_http_error(resp, 503, "the event log is off");
		return;
	}
	memset(&a, 0, sizeof a);
	a.r = log_reader_new(l, NULL, NULL);
	if (events_login(l, req, resp, &a.r->user) != 0 ||
	    events_parse(l, req, resp, false, &a) != 0)
		goto out;
	memset(&p, 0, sizeof p);
	p.r = a.r;
	p.body = fh_http_body(resp);
	p.ndjson = accept != NULL &&
	    strstr(accept, "application/x-ndjson") != NULL;
	p.limit = a.limit;
	cursor = a.after;
	head = store_head(l->store);
	if (!p.ndjson)
		evbuffer_add(p.body, "[", 1);
	while (p.n < p.limit) {
		p.last = cursor;
		n = store_read(l->store, cursor, a.r->until_us, LOG_PAGE_ROWS,
		    events_page_row_cb, &p, &last);
		if (n < 0) {
			fh_http_error(resp, 500, "cannot read the log");
			goto out;
		}
		cursor = p.last;
		scanned += (size_t)n;
		if (n < LOG_PAGE_ROWS && p.n < p.limit)
			break;		/* the end */
		if (scanned >= EVENTS_SCAN_MAX) {
			more = true;	/* sparse: page on */
			break;
		}
	}
	if (p.n >= p.limit && cursor < head)
		more = true;
	if (!p.ndjson)
		evbuffer_add(p.body, "]\n", 2);
	snprintf(num, sizeof num, "%llu", (unsigned long long)head);
	fh_http_add_header(resp, "X-Firehose-Head", num);
	if (more) {
		snprintf(num, sizeof num, "%llu", (unsigned long long)cursor);
		fh_http_add_header(resp, "X-Firehose-Next", num);
		events_link_next(req, resp, cursor);
	}
	fh_http_reply(resp, 200, p.ndjson ? "application/x-ndjson" :
	    "application/json", NULL, 0);
out:
	log_reader_discard(a.r);
}

/* ---- GET /v1/stream ---- */

struct events_sse {
	struct log		*l;
	struct fh_http_stream	*s;
	struct log_reader	*r;
	int64_t			 beat_us;
	int64_t			 last_us;	/* last write */
};

static int
events_sse_row(struct log_reader *r, const struct store_row *row)
{
	struct events_sse	*e = r->arg;
	struct evbuffer		*b = evbuffer_new();
	char			*msg;
	size_t			 len;
	int			 rc = 0;

	evbuffer_add_printf(b, "id: %llu\ndata: ",
	    (unsigned long long)row->seq);
	log_event_json(b, row);
	evbuffer_add(b, "\n\n", 2);
	len = evbuffer_get_length(b);
	if (fh_http_stream_write(e->s, evbuffer_pullup(b, -1), len) != 0) {
		if (!r->live)
			rc = 1;		/* backlog: wait for the drain */
		else {
			/* Live and the reader does not keep up: drop it,
			 * saying why, rather than buffer without bound. */
			msg = fh_xasprintf("event: error\ndata: {\"error\":"
			    "\"slow reader: %zu bytes unread, dropped\","
			    "\"last_seq\":%llu}\n\n",
			    fh_http_stream_pending(e->s),
			    (unsigned long long)r->after);
			fh_http_stream_end(e->s, msg, strlen(msg));
			free(msg);
			e->l->streams_dropped++;
			free(e);
			rc = -1;
		}
	} else
		e->last_us = events_now_us();
	evbuffer_free(b);
	return rc;
}

static bool
events_sse_busy(struct log_reader *r)
{
	struct events_sse	*e = r->arg;

	return fh_http_stream_pending(e->s) > EVENTS_STREAM_MAX / 2;
}

static bool
events_sse_caught_up(struct log_reader *r)
{
	(void)r;
	return true;	/* then live */
}

static void
events_sse_cancel(struct log_reader *r)
{
	static const char	 bye[] = "event: error\ndata: {\"error\":"
	    "\"the event log is stopping\"}\n\n";
	struct events_sse	*e = r->arg;

	fh_http_stream_end(e->s, bye, sizeof bye - 1);
	free(e);
}

static const struct log_reader_ops events_sse_ops = {
	.row = events_sse_row,
	.busy = events_sse_busy,
	.caught_up = events_sse_caught_up,
	.cancel = events_sse_cancel,
};

static void
events_sse_gone(struct fh_http_stream *s, void *arg)
{
	struct events_sse	*e = arg;

	(void)s;
	log_reader_free(e->r);
	free(e);
}

static void
events_sse_drained(struct fh_http_stream *s, void *arg)
{
	struct events_sse	*e = arg;

	(void)s;
	if (!e->r->live)
		log_pump_schedule(e->l);
}

static const struct fh_http_stream_cbs events_sse_cbs = {
	.gone = events_sse_gone,
	.drained = events_sse_drained,
};

static void
events_stream(struct fh_http_request *req, struct fh_http_response *resp,
    void *arg)
{
	struct log		*l = arg;
	struct events_args	 a;
	struct events_sse	*e;
	struct fh_http_stream	*s;
	const char		*last = fh_http_header(req, "Last-Event-ID");
	uint64_t		 seq;

	l->http_requests++;
	if (l->store == NULL) {
		fh_http_error(resp, 503, "the event log is off");
		return;
	}
	memset(&a, 0, sizeof a);
	e = fh_xcalloc(1, sizeof *e);
	e->l = l;
	a.r = log_reader_new(l, &events_sse_ops, e);
	if (events_login(l, req, resp, &a.r->user) != 0 ||
	    events_parse(l, req, resp, true, &a) != 0)
		goto fail;
	/* A reconnecting EventSource sends the last id it saw: that wins
	 * over the since= or seq= of the URL it reuses. */
	if (last != NULL && *last != '\0') {
		if (filter_seq_parse(last, &seq) != 0) {
			events_bad(l, resp, "Last-Event-ID", "bad "
			    "Last-Event-ID '%s': a seq", last);
			goto fail;
		}
		a.after = seq;
		a.have_after = true;
		a.r->since_us = INT64_MIN;
	}
	a.r->after = a.have_after ? a.after : store_head(l->store);
	if ((s = fh_http_stream_start(resp, "text/event-stream; "
	    "charset=utf-8", &events_sse_cbs, e)) == NULL)
		goto fail;	/* HEAD, or too many streams (503 sent) */
	fh_http_stream_set_max(s, EVENTS_STREAM_MAX);
	fh_http_stream_printf(s, "retry: 2000\n: firehose event log, "
	    "head %llu\n\n", (unsigned long long)store_head(l->store));
	e->s = s;
	e->r = a.r;
	e->beat_us = (int64_t)a.heartbeat * 1000000;
	e->last_us = events_now_us();
	l->streams++;
	log_reader_start(a.r);
	return;
fail:
	log_reader_discard(a.r);
	free(e);
}

void
log_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct log		*l = arg;
	struct log_reader	*r, *next;
	struct events_sse	*e;
	int64_t			 now = events_now_us();

	(void)fd;
	(void)what;
	for (r = TAILQ_FIRST(&l->readers); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->ops != &events_sse_ops)
			continue;
		e = r->arg;
		if (now - e->last_us < e->beat_us)
			continue;
		/* A comment line: EventSource ignores it, proxies and the
		 * reader's own timeout see traffic. Skipped when full. */
		if (fh_http_stream_write(e->s, ": keepalive\n\n", 13) == 0)
			e->last_us = now;
	}
}

void
log_routes_register(struct log *l)
{
	fh_gateway_http_route(l->gw, "/v1/events", FH_HTTP_GET, events_list,
	    l);
	fh_gateway_http_route(l->gw, "/v1/stream", FH_HTTP_GET, events_stream,
	    l);
}

void
log_routes_unregister(struct log *l)
{
	fh_gateway_http_unroute(l->gw, "/v1/events");
	fh_gateway_http_unroute(l->gw, "/v1/stream");
}
