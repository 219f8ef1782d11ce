/* HTTP routes for every module: registry, request view, replies, streams. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"

/* How long an ended stream waits for the peer's FIN (lingering close). */
#define HTTP_LINGER_SEC	5

struct http_route {
	char		*path;		/* without the '*' of a prefix */
	size_t		 len;
	bool		 prefix;
	unsigned	 methods;
	fh_http_handler	 handler;
	void		*arg;
};

struct fh_http_stream {
	TAILQ_ENTRY(fh_http_stream)	 entry;
	struct fh_http_registry		*reg;
	struct bufferevent		*bev;
	struct event			*linger;
	struct fh_http_stream_cbs	 cbs;
	void				*arg;
	size_t				 max;
	bool				 ending;
	bool				 live;	/* handed over by dispatch */
	char				*peer;
};

struct fh_http_registry {
	struct fh_gateway		*gw;
	struct http_route		*routes;
	size_t				 nroutes;
	TAILQ_HEAD(, fh_http_stream)	 streams;
	size_t				 nstreams;
	uint64_t			 requests, bad, not_found;
	uint64_t			 streams_total, streams_refused;
};

struct fh_http_request {
	const char		*listener;
	const char		*peer;
	char			*method;
	char			*path;
	const char		*subpath;
	struct fh_http_params	 q;
	size_t			 nheaders;
	char			**hnames;
	char			**hvalues;
};

struct fh_http_response {
	struct fh_http_registry	*reg;
	struct bufferevent	*bev;
	struct evbuffer		*headers;
	struct evbuffer		*body;
	const char		*peer;
	bool			 head_only;
	bool			 replied;
	bool			 cache_set;	/* the handler's Cache-Control */
	int			 status;
	struct fh_http_stream	*stream;
};

/* ---- pure parts ---- */

static int
http_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
fh_http_pct_decode(const char *s, size_t len, bool plus)
{
	char	*out = fh_xmalloc(len + 1);
	size_t	 i, o = 0;
	int	 h, l;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len || (h = http_hex(s[i + 1])) < 0 ||
			    (l = http_hex(s[i + 2])) < 0)
				goto bad;
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else if (plus && s[i] == '+')
			out[o++] = ' ';
		else
			out[o++] = s[i];
		if (out[o - 1] == '\0')
			goto bad;
	}
	out[o] = '\0';
	if (!fh_utf8_is_valid((const uint8_t *)out, o))
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

void
fh_http_params_clear(struct fh_http_params *p)
{
	size_t	i;

	for (i = 0; i < p->n; i++) {
		free(p->names[i]);
		free(p->values[i]);
	}
	free(p->names);
	free(p->values);
	memset(p, 0, sizeof *p);
}

int
fh_http_query_parse(const char *q, size_t len, struct fh_http_params *p,
    const char **why)
{
	size_t		 s = 0, e, eq;
	char		*name, *value;

	memset(p, 0, sizeof *p);
	while (s < len) {
		for (e = s; e < len && q[e] != '&'; e++)
			;
		if (e == s) {
			s = e + 1;
			continue;
		}
		if (p->n == FH_HTTP_QUERY_MAX) {
			*why = "too many query parameters";
			goto bad;
		}
		for (eq = s; eq < e && q[eq] != '='; eq++)
			;
		name = fh_http_pct_decode(q + s, eq - s, true);
		value = eq < e ? fh_http_pct_decode(q + eq + 1, e - eq - 1,
		    true) : fh_xstrdup("");
		if (name == NULL || value == NULL) {
			free(name);
			free(value);
			*why = "bad percent-encoding in the query";
			goto bad;
		}
		p->names = fh_xrealloc(p->names, (p->n + 1) *
		    sizeof *p->names);
		p->values = fh_xrealloc(p->values, (p->n + 1) *
		    sizeof *p->values);
		p->names[p->n] = name;
		p->values[p->n] = value;
		p->n++;
		s = e + 1;
	}
	return 0;
bad:
	fh_http_params_clear(p);
	return -1;
}

const char *
fh_http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* ---- the registry ---- */

struct fh_http_registry *
fh_http_registry_new(struct fh_gateway *gw)
{
	struct fh_http_registry	*reg = fh_xcalloc(1, sizeof *reg);

	reg->gw = gw;
	TAILQ_INIT(&reg->streams);
	return reg;
}

static void	http_stream_free(struct fh_http_stream *);

void
fh_http_registry_free(struct fh_http_registry *reg)
{
	size_t	i;

	if (reg == NULL)
		return;
	while (!TAILQ_EMPTY(&reg->streams))
		http_stream_free(TAILQ_FIRST(&reg->streams));
	for (i = 0; i < reg->nroutes; i++)
		free(reg->routes[i].path);
	free(reg->routes);
	free(reg);
}

void
fh_http_registry_stats(const struct fh_http_registry *reg, json_t *out)
{
	json_object_set_new(out, "requests", json_integer(
	    (json_int_t)reg->requests));
	json_object_set_new(out, "bad_requests", json_integer(
	    (json_int_t)reg->bad));
	json_object_set_new(out, "not_found", json_integer(
	    (json_int_t)reg->not_found));
	json_object_set_new(out, "streams", json_integer(
	    (json_int_t)reg->nstreams));
	json_object_set_new(out, "streams_total", json_integer(
	    (json_int_t)reg->streams_total));
	json_object_set_new(out, "streams_refused", json_integer(
	    (json_int_t)reg->streams_refused));
}

static struct http_route *
http_route_find_exact(struct fh_http_registry *reg, const char *path,
    size_t len, bool prefix)
{
	size_t	i;

	for (i = 0; i < reg->nroutes; i++)
		if (reg->routes[i].prefix == prefix &&
		    reg->routes[i].len == len &&
		    memcmp(reg->routes[i].path, path, len) == 0)
			return &reg->routes[i];
	return NULL;
}

int
fh_gateway_http_route(struct fh_gateway *gw, const char *path,
    unsigned methods, fh_http_handler handler, void *arg)
{
	struct fh_http_registry	*reg = fh_gateway_http_registry(gw);
	struct http_route	*r;
	size_t			 len = strlen(path);
	bool			 prefix = len > 0 && path[len - 1] == '*';

	if (path[0] != '/' || handler == NULL)
		return -1;
	if (prefix)
		len--;
	if ((r = http_route_find_exact(reg, path, len, prefix)) == NULL) {
		reg->routes = fh_xrealloc(reg->routes, (reg->nroutes + 1) *
		    sizeof *reg->routes);
		r = &reg->routes[reg->nroutes++];
		r->path = fh_xstrndup(path, len);
		r->len = len;
		r->prefix = prefix;
	}
	r->methods = methods;
	r->handler = handler;
	r->arg = arg;
	return 0;
}

void
fh_gateway_http_unroute(struct fh_gateway *gw, const char *path)
{
	struct fh_http_registry	*reg = fh_gateway_http_registry(gw);
	struct http_route	*r;
	size_t			 len = strlen(path);
	bool			 prefix = len > 0 && path[len - 1] == '*';

	if (prefix)
		len--;
	if ((r = http_route_find_exact(reg, path, len, prefix)) == NULL)
		return;
	free(r->path);
	*r = reg->routes[--reg->nroutes];
}

/* Exact first, then the longest prefix. */
static struct http_route *
http_route_match(struct fh_http_registry *reg, const char *path)
{
	struct http_route	*best = NULL;
	size_t			 len = strlen(path), i;

	if ((best = http_route_find_exact(reg, path, len, false)) != NULL)
		return best;
	for (i = 0; i < reg->nroutes; i++) {
		struct http_route *r = &reg->routes[i];

		if (r->prefix && r->len <= len &&
		    memcmp(r->path, path, r->len) == 0 &&
		    (best == NULL || r->len > best->len))
			best = r;
	}
	return best;
}

/* ---- the request view ---- */

const char *
fh_http_method(const struct fh_http_request *r)
{
	return r->method;
}

const char *
fh_http_path(const struct fh_http_request *r)
{
	return r->path;
}

const char *
fh_http_subpath(const struct fh_http_request *r)
{
	return r->subpath;
}

const char *
fh_http_query(const struct fh_http_request *r, const char *name)
{
	size_t	i;

	for (i = 0; i < r->q.n; i++)
		if (strcmp(r->q.names[i], name) == 0)
			return r->q.values[i];
	return NULL;
}

bool
fh_http_query_at(const struct fh_http_request *r, size_t i,
    const char **name, const char **value)
{
	if (i >= r->q.n)
		return false;
	*name = r->q.names[i];
	*value = r->q.values[i];
	return true;
}

size_t
fh_http_query_count(const struct fh_http_request *r)
{
	return r->q.n;
}

const char *
fh_http_header(const struct fh_http_request *r, const char *name)
{
	size_t	i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->hnames[i], name) == 0)
			return r->hvalues[i];
	return NULL;
}

const char *
fh_http_listener(const struct fh_http_request *r)
{
	return r->listener;
}

const char *
fh_http_peer(const struct fh_http_request *r)
{
	return r->peer;
}

/* ---- plain responses ---- */

void
fh_http_add_header(struct fh_http_response *r, const char *name,
    const char *value)
{
	evbuffer_add_printf(r->headers, "%s: %s\r\n", name, value);
	if (strcasecmp(name, "Cache-Control") == 0)
		r->cache_set = true;
}

struct evbuffer *
fh_http_body(struct fh_http_response *r)
{
	return r->body;
}

void
fh_http_reply(struct fh_http_response *r, int status,
    const char *content_type, const void *body, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(r->bev);

	if (r->replied)
		return;
	r->replied = true;
	r->status = status;
	if (body != NULL && len > 0)
		evbuffer_add(r->body, body, len);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    fh_http_status_text(status));
	/* A 304 has no content, so no type or length of its own (RFC 9110
	 * 15.4.5); a handler that sets Cache-Control (the live page's
	 * revalidated files) replaces the default. */
	if (status != 304)
		evbuffer_add_printf(out, "Content-Type: %s\r\n"
		    "Content-Length: %zu\r\n", content_type,
		    evbuffer_get_length(r->body));
	evbuffer_add_printf(out, "%sConnection: close\r\n",
	    r->cache_set ? "" : "Cache-Control: no-store\r\n");
	evbuffer_add_buffer(out, r->headers);
	evbuffer_add(out, "\r\n", 2);
	if (!r->head_only)
		evbuffer_add_buffer(out, r->body);
	else
		evbuffer_drain(r->body, evbuffer_get_length(r->body));
}

void
fh_http_error(struct fh_http_response *r, int status, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = fh_xvasprintf(fmt, ap);
	va_end(ap);
	evbuffer_drain(r->body, evbuffer_get_length(r->body));
	evbuffer_add_printf(r->body, "%d %s: %s\n", status,
	    fh_http_status_text(status), msg);
	free(msg);
	fh_http_reply(r, status, "text/plain; charset=utf-8", NULL, 0);
}

/* ---- streams ---- */

static void
http_stream_free(struct fh_http_stream *s)
{
	TAILQ_REMOVE(&s->reg->streams, s, entry);
	s->reg->nstreams--;
	if (s->linger != NULL)
		event_free(s->linger);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s->peer);
	free(s);
}

/* The peer is gone (or we stop): tell the owner, then free. */
static void
http_stream_gone(struct fh_http_stream *s)
{
	if (!s->ending && s->cbs.gone != NULL) {
		s->ending = true;	/* an end() from gone() is a no-op */
		s->cbs.gone(s, s->arg);
	}
	http_stream_free(s);
}

static void
http_stream_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
http_stream_write_cb(struct bufferevent *bev, void *arg)
{
	struct fh_http_stream	*s = arg;
	evutil_socket_t		 fd;

	if (s->ending) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
		    (fd = bufferevent_getfd(bev)) >= 0)
			shutdown(fd, SHUT_WR);
		return;
	}
	if (s->cbs.drained != NULL)
		s->cbs.drained(s, s->arg);
}

static void
http_stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fh_http_stream	*s = arg;

	(void)bev;
	(void)what;	/* EOF, error or timeout: the peer is gone */
	http_stream_gone(s);
}

static void
http_stream_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_stream_free(arg);
}

struct fh_http_stream *
fh_http_stream_start(struct fh_http_response *r, const char *content_type,
    const struct fh_http_stream_cbs *cbs, void *arg)
{
	struct fh_http_registry	*reg = r->reg;
	struct fh_http_stream	*s;
	struct evbuffer		*out = bufferevent_get_output(r->bev);

	if (r->replied || r->stream != NULL)
		return NULL;
	if (reg->nstreams >= FH_HTTP_STREAMS_MAX) {
		reg->streams_refused++;
		fh_http_error(r, 503, "too many streams open");
		return NULL;
	}
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n"
	    "X-Accel-Buffering: no\r\n", content_type);
	evbuffer_add_buffer(out, r->headers);
	evbuffer_add(out, "\r\n", 2);
	if (r->head_only) {
		r->replied = true;
		r->status = 200;
		return NULL;
	}
	s = fh_xcalloc(1, sizeof *s);
	s->reg = reg;
	s->bev = r->bev;
	s->cbs = *cbs;
	s->arg = arg;
	s->max = FH_HTTP_STREAM_MAX_DEFAULT;
	s->peer = fh_xstrdup(r->peer);
	TAILQ_INSERT_TAIL(&reg->streams, s, entry);
	reg->nstreams++;
	reg->streams_total++;
	r->stream = s;
	r->replied = true;
	r->status = 200;
	return s;
}

void
fh_http_stream_set_max(struct fh_http_stream *s, size_t max)
{
	s->max = max;
	if (s->live)
		bufferevent_setwatermark(s->bev, EV_WRITE, max / 4, 0);
}

size_t
fh_http_stream_pending(const struct fh_http_stream *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

int
fh_http_stream_write(struct fh_http_stream *s, const void *p, size_t len)
{
	size_t	pending;

	if (s->ending)
		return -1;
	/* Into an empty output anything goes: one item may be bigger than
	 * the bound, and must not wedge the stream. */
	if ((pending = fh_http_stream_pending(s)) > 0 && pending + len > s->max)
		return -1;
	evbuffer_add(bufferevent_get_output(s->bev), p, len);
	return 0;
}

int
fh_http_stream_printf(struct fh_http_stream *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int	 rc;

	va_start(ap, fmt);
	msg = fh_xvasprintf(fmt, ap);
	va_end(ap);
	rc = fh_http_stream_write(s, msg, strlen(msg));
	free(msg);
	return rc;
}

const char *
fh_http_stream_peer(const struct fh_http_stream *s)
{
	return s->peer;
}

static void
http_stream_linger(struct fh_http_stream *s)
{
	struct timeval	tv = { HTTP_LINGER_SEC, 0 };

	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	s->linger = evtimer_new(bufferevent_get_base(s->bev),
	    http_stream_linger_cb, s);
	evtimer_add(s->linger, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		http_stream_write_cb(s->bev, s);
}

void
fh_http_stream_end(struct fh_http_stream *s, const void *last, size_t len)
{
	if (s->ending)
		return;
	if (last != NULL && len > 0)
		evbuffer_add(bufferevent_get_output(s->bev), last, len);
	s->ending = true;
	if (s->live)
		http_stream_linger(s);
}

void
fh_http_streams_close_all(struct fh_gateway *gw)
{
	struct fh_http_registry	*reg = fh_gateway_http_registry(gw);

	while (!TAILQ_EMPTY(&reg->streams))
		http_stream_gone(TAILQ_FIRST(&reg->streams));
}

/* Take bev over once the handler has returned. */
static void
http_stream_adopt(struct fh_http_stream *s)
{
	s->live = true;
	bufferevent_setcb(s->bev, http_stream_read_cb, http_stream_write_cb,
	    http_stream_event_cb, s);
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	if (s->ending) {
		http_stream_linger(s);
		return;
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, s->max / 4, 0);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- dispatch ---- */

static void
http_request_clear(struct fh_http_request *r)
{
	size_t	i;

	free(r->method);
	free(r->path);
	fh_http_params_clear(&r->q);
	for (i = 0; i < r->nheaders; i++) {
		free(r->hnames[i]);
		free(r->hvalues[i]);
	}
	free(r->hnames);
	free(r->hvalues);
}

int
fh_http_dispatch(struct fh_gateway *gw, const struct fh_http_head *h,
    struct bufferevent *bev, bool *taken)
{
	struct fh_http_registry	*reg = fh_gateway_http_registry(gw);
	struct fh_http_request	 req;
	struct fh_http_response	 resp;
	struct http_route	*route;
	const char		*q, *why;
	size_t			 plen, i;

	*taken = false;
	reg->requests++;
	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	resp.reg = reg;
	resp.bev = bev;
	resp.peer = h->peer;
	resp.headers = evbuffer_new();
	resp.body = evbuffer_new();
	req.listener = h->listener;
	req.peer = h->peer;
	req.method = fh_xstrndup(h->method, h->method_len);
	resp.head_only = strcmp(req.method, "HEAD") == 0;

	q = memchr(h->target, '?', h->target_len);
	plen = q ? (size_t)(q - h->target) : h->target_len;
	if (h->target[0] != '/' ||
	    (req.path = fh_http_pct_decode(h->target, plen, false)) == NULL) {
		reg->bad++;
		fh_http_error(&resp, 400, "bad request target");
		goto out;
	}
	if (q != NULL && fh_http_query_parse(q + 1, h->target_len - plen - 1,
	    &req.q, &why) != 0) {
		reg->bad++;
		fh_http_error(&resp, 400, "%s", why);
		goto out;
	}
	req.nheaders = h->nheaders;
	req.hnames = fh_xcalloc(h->nheaders + 1, sizeof *req.hnames);
	req.hvalues = fh_xcalloc(h->nheaders + 1, sizeof *req.hvalues);
	for (i = 0; i < h->nheaders; i++) {
		req.hnames[i] = fh_xstrndup(h->names[i], h->name_lens[i]);
		req.hvalues[i] = fh_xstrndup(h->values[i], h->value_lens[i]);
	}
	if ((route = http_route_match(reg, req.path)) == NULL) {
		reg->not_found++;
		fh_http_error(&resp, 404, "no such page");
		goto out;
	}
	if (strcmp(req.method, "GET") != 0 && !resp.head_only) {
		fh_http_add_header(&resp, "Allow", "GET, HEAD");
		fh_http_error(&resp, 405, "only GET and HEAD");
		goto out;
	}
	req.subpath = route->prefix ? req.path + route->len : "";
	route->handler(&req, &resp, route->arg);
	if (!resp.replied)
		fh_http_error(&resp, 500, "the page gave no answer");
out:
	if (resp.stream != NULL) {
		*taken = true;
		http_stream_adopt(resp.stream);
	}
	evbuffer_free(resp.headers);
	evbuffer_free(resp.body);
	http_request_clear(&req);
	return resp.status;
}

/* ---- the gateway's own pages ---- */

static void
http_page_healthz(struct fh_http_request *req, struct fh_http_response *r,
    void *arg)
{
	struct fh_gateway	*gw = arg;
	json_t			*o;
	char			*body;

	o = json_pack("{s:s,s:s,s:f,s:s}", "status", "ok", "version",
	    PACKAGE_VERSION, "uptime_seconds", fh_gateway_uptime(gw),
	    "listener", fh_http_listener(req));
	body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	fh_http_reply(r, 200, "application/json", body, strlen(body));
	free(body);
}

static void
http_page_metrics(struct fh_http_request *req, struct fh_http_response *r,
    void *arg)
{
	struct fh_gateway	*gw = arg;
	json_t			*stats = fh_gateway_stats(gw);
	char			*body;

	(void)req;
	json_object_set_new(stats, "uptime_seconds",
	    json_real(fh_gateway_uptime(gw)));
	body = fh_metrics_render(stats);
	json_decref(stats);
	fh_http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    body, strlen(body));
	free(body);
}

void
fh_http_register_builtin(struct fh_gateway *gw)
{
	fh_gateway_http_route(gw, "/healthz", FH_HTTP_GET, http_page_healthz,
	    gw);
	fh_gateway_http_route(gw, "/metrics", FH_HTTP_GET, http_page_metrics,
	    gw);
}
