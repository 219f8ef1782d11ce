/* HTTP on the ws/wss listeners: head parser, upgrade check, small router. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "gateway/gateway.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/http.h"
#include "sinks/mqtt/listener.h"
#include "sinks/mqtt/ws_frame.h"

bool
http_str_eq(const struct http_str *s, const char *z)
{
	return strlen(z) == s->len && memcmp(s->p, z, s->len) == 0;
}

bool
http_str_caseeq(const struct http_str *s, const char *z)
{
	return strlen(z) == s->len && strncasecmp(s->p, z, s->len) == 0;
}

static bool
http_is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Find "\r\n\r\n"; the head length or 0. */
static size_t
http_head_end(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i + 3 < len; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 4;
	return 0;
}

static int
http_parse_request_line(const uint8_t *p, size_t len, struct http_request *r)
{
	size_t	i = 0, start;

	while (i < len && http_is_tchar(p[i]))
		i++;
	if (i == 0 || i >= len || p[i] != ' ')
		return -1;
	r->method.p = (const char *)p;
	r->method.len = i;
	start = ++i;
	while (i < len && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == start || i >= len || p[i] != ' ')
		return -1;
	r->target.p = (const char *)p + start;
	r->target.len = i - start;
	i++;
	if (len - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
	    p[i + 7] < '0' || p[i + 7] > '9')
		return -1;
	r->minor = p[i + 7] - '0';
	return 0;
}

static int
http_parse_header(const uint8_t *p, size_t len, struct http_header *h)
{
	size_t	i = 0, vs, ve;

	while (i < len && http_is_tchar(p[i]))
		i++;
	if (i == 0 || i >= len || p[i] != ':')
		return -1;
	h->name.p = (const char *)p;
	h->name.len = i;
	for (vs = i + 1; vs < len && (p[vs] == ' ' || p[vs] == '\t'); vs++)
		;
	for (ve = len; ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t');
	    ve--)
		;
	for (i = vs; i < ve; i++)
		if ((p[i] < ' ' && p[i] != '\t') || p[i] == 0x7f)
			return -1;
	h->value.p = (const char *)p + vs;
	h->value.len = ve - vs;
	return 0;
}

int
http_request_parse(const uint8_t *buf, size_t len, struct http_request *r)
{
	size_t		 head, pos, eol;
	const uint8_t	*nl;

	memset(r, 0, sizeof *r);
	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX;
	if ((head = http_head_end(buf, len)) == 0)
		return len >= HTTP_HEAD_MAX ? HTTP_PARSE_TOO_LARGE :
		    HTTP_PARSE_MORE;
	/* Lines end in CRLF; a bare CR or LF inside is malformed. */
	for (pos = 0; pos < head - 2; pos = eol + 2) {
		nl = memchr(buf + pos, '\n', head - pos);
		eol = (size_t)(nl - buf) - 1;
		if (nl == buf + pos || buf[eol] != '\r' ||
		    memchr(buf + pos, '\r', eol - pos) != NULL)
			return HTTP_PARSE_BAD;
		if (pos == 0) {
			if (http_parse_request_line(buf, eol, r) != 0)
				return HTTP_PARSE_BAD;
			continue;
		}
		if (r->nheaders == HTTP_HEADERS_MAX)
			return HTTP_PARSE_TOO_LARGE;
		if (http_parse_header(buf + pos, eol - pos,
		    &r->headers[r->nheaders]) != 0)
			return HTTP_PARSE_BAD;
		r->nheaders++;
	}
	if (r->method.p == NULL)
		return HTTP_PARSE_BAD;
	return (int)head;
}

const struct http_str *
http_header_get(const struct http_request *r, const char *name)
{
	size_t	i;

	for (i = 0; i < r->nheaders; i++)
		if (http_str_caseeq(&r->headers[i].name, name))
			return &r->headers[i].value;
	return NULL;
}

/* Iterate the comma-separated tokens of every header of that name. */
static bool
http_header_next_token(const struct http_request *r, const char *name,
    size_t *hi, size_t *off, struct http_str *tok)
{
	for (; *hi < r->nheaders; (*hi)++, *off = 0) {
		const struct http_str *v = &r->headers[*hi].value;
		size_t s, e;

		if (!http_str_caseeq(&r->headers[*hi].name, name))
			continue;
		while (*off < v->len) {
			s = *off;
			while (*off < v->len && v->p[*off] != ',')
				(*off)++;
			e = *off;
			if (*off < v->len)
				(*off)++;
			while (s < e && (v->p[s] == ' ' || v->p[s] == '\t'))
				s++;
			while (e > s && (v->p[e - 1] == ' ' ||
			    v->p[e - 1] == '\t'))
				e--;
			if (e > s) {
				tok->p = v->p + s;
				tok->len = e - s;
				return true;
			}
		}
	}
	return false;
}

bool
http_header_has_token(const struct http_request *r, const char *name,
    const char *token)
{
	struct http_str	tok;
	size_t		hi = 0, off = 0;

	while (http_header_next_token(r, name, &hi, &off, &tok))
		if (http_str_caseeq(&tok, token))
			return true;
	return false;
}

bool
http_is_upgrade(const struct http_request *r)
{
	return http_header_get(r, "Upgrade") != NULL ||
	    http_header_get(r, "Sec-WebSocket-Key") != NULL;
}

static bool
http_ws_key_is_valid(const struct http_str *k)
{
	size_t	i;

	/* base64 of 16 bytes: 22 characters and "==". */
	if (k->len != 24 || k->p[22] != '=' || k->p[23] != '=')
		return false;
	for (i = 0; i < 22; i++) {
		char c = k->p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

static bool
http_path_matches(const struct http_str *target, const char *path)
{
	size_t	n = 0;

	if (path == NULL || *path == '\0')
		return true;
	while (n < target->len && target->p[n] != '?')
		n++;
	return strlen(path) == n && memcmp(target->p, path, n) == 0;
}

int
http_ws_upgrade(const struct http_request *r, const struct http_ws_opts *o,
    char **resp, const char **subproto, const char **why)
{
	const struct http_str	*key, *ver, *origin;
	struct http_str		 tok;
	size_t			 i, hi = 0, off = 0;
	char			 accept[29], keyz[25];

	*resp = NULL;
	*subproto = NULL;
	if (!http_str_eq(&r->method, "GET") || r->minor < 1) {
		*why = "upgrade needs GET and HTTP/1.1";
		return 400;
	}
	if (!http_header_has_token(r, "Upgrade", "websocket") ||
	    !http_header_has_token(r, "Connection", "upgrade")) {
		*why = "missing Upgrade: websocket / Connection: Upgrade";
		return 400;
	}
	if ((ver = http_header_get(r, "Sec-WebSocket-Version")) == NULL ||
	    !http_str_eq(ver, "13")) {
		*why = "unsupported Sec-WebSocket-Version";
		return 426;
	}
	if ((key = http_header_get(r, "Sec-WebSocket-Key")) == NULL ||
	    !http_ws_key_is_valid(key)) {
		*why = "bad Sec-WebSocket-Key";
		return 400;
	}
	if (!http_path_matches(&r->target, o->path)) {
		*why = "no WebSocket endpoint at this path";
		return 404;
	}
	if (o->norigins > 0 &&
	    (origin = http_header_get(r, "Origin")) != NULL) {
		for (i = 0; i < o->norigins; i++)
			if (http_str_caseeq(origin, o->origins[i]))
				break;
		if (i == o->norigins) {
			*why = "Origin not allowed";
			return 403;
		}
	}
	while (http_header_next_token(r, "Sec-WebSocket-Protocol", &hi, &off,
	    &tok)) {
		if (http_str_eq(&tok, "mqtt")) {
			*subproto = "mqtt";
			break;
		}
		if (http_str_eq(&tok, "mqttv3.1")) {
			*subproto = "mqttv3.1";
			break;
		}
	}
	memcpy(keyz, key->p, 24);
	keyz[24] = '\0';
	ws_frame_accept_key(keyz, 24, accept);
	*resp = fh_xasprintf("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n", accept,
	    *subproto ? "Sec-WebSocket-Protocol: " : "",
	    *subproto ? *subproto : "", *subproto ? "\r\n" : "");
	return 0;
}

static const char *
http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static void
http_respond(struct evbuffer *out, int status, const char *ctype,
    const char *extra, const char *body, size_t len, bool head_only)
{
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n%s\r\n", status, http_status_text(status),
	    ctype, len, extra ? extra : "");
	if (!head_only)
		evbuffer_add(out, body, len);
}

void
http_respond_status(struct evbuffer *out, int status, const char *why)
{
	char	*body = fh_xasprintf("%d %s: %s\n", status,
	    http_status_text(status), why);

	http_respond(out, status, "text/plain; charset=utf-8",
	    status == 426 ? "Sec-WebSocket-Version: 13\r\n" :
	    status == 405 ? "Allow: GET, HEAD\r\n" : NULL,
	    body, strlen(body), false);
	free(body);
}

/* The pages. */
static int
http_page_healthz(struct fh_gateway *gw, const char *listener, char **body,
    const char **ctype)
{
	json_t	*o;

	o = json_pack("{s:s,s:s,s:f,s:s}", "status", "ok", "version",
	    PACKAGE_VERSION, "uptime_seconds", fh_gateway_uptime(gw),
	    "listener", listener);
	*body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	*ctype = "application/json";
	return 200;
}

static int
http_page_metrics(struct fh_gateway *gw, const char *listener, char **body,
    const char **ctype)
{
	json_t	*stats = fh_gateway_stats(gw);

	(void)listener;
	json_object_set_new(stats, "uptime_seconds",
	    json_real(fh_gateway_uptime(gw)));
	*body = http_metrics_render(stats);
	json_decref(stats);
	*ctype = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}

static const struct {
	const char	*path;
	int		 (*page)(struct fh_gateway *, const char *, char **,
			    const char **);
} http_routes[] = {
	{ "/healthz", http_page_healthz },
	{ "/metrics", http_page_metrics },
	{ NULL, NULL }
};

int
http_route(struct fh_gateway *gw, const char *listener,
    const struct http_request *r, struct evbuffer *out)
{
	const char	*ctype = NULL;
	char		*body = NULL;
	bool		 head = http_str_eq(&r->method, "HEAD");
	int		 i, status;

	for (i = 0; http_routes[i].path != NULL; i++)
		if (http_path_matches(&r->target, http_routes[i].path))
			break;
	if (http_routes[i].path == NULL) {
		http_respond_status(out, 404, "no such page");
		return 404;
	}
	if (!head && !http_str_eq(&r->method, "GET")) {
		http_respond_status(out, 405, "only GET and HEAD");
		return 405;
	}
	status = http_routes[i].page(gw, listener, &body, &ctype);
	http_respond(out, status, ctype, NULL, body ? body : "",
	    body ? strlen(body) : 0, head);
	free(body);
	return status;
}

/* Prometheus text rendering. */
struct http_sample {
	char	*name;
	char	*labels;	/* "" or {a="b",...} */
	double	 value;
	size_t	 order;
};

struct http_samples {
	struct http_sample	*v;
	size_t			 n, cap;
};

static const struct {
	const char	*key;
	const char	*prefix;	/* metric name part */
	const char	*label;
} http_label_maps[] = {
	{ "sources", "source", "source" },
	{ "listeners", "listener", "listener" },
	{ "drops", "drops", "reason" },
	{ "dropped", "dropped", "reason" },
	{ "errors", "errors", "reason" },
	{ "connections", "connections", "listener" },
	{ NULL, NULL, NULL }
};

static char *
http_metric_name(const char *prefix, const char *key)
{
	char	*s = fh_xasprintf("%s_%s", prefix, key), *p;

	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
			*p = '_';
	return s;
}

static char *
http_label_add(const char *labels, const char *name, const char *value)
{
	size_t		 len = strlen(value), i, o = 0;
	char		*esc = fh_xmalloc(2 * len + 1), *s;

	for (i = 0; i < len; i++) {
		if (value[i] == '\\' || value[i] == '"') {
			esc[o++] = '\\';
			esc[o++] = value[i];
		} else if (value[i] == '\n') {
			esc[o++] = '\\';
			esc[o++] = 'n';
		} else
			esc[o++] = value[i];
	}
	esc[o] = '\0';
	if (*labels == '\0')
		s = fh_xasprintf("{%s=\"%s\"}", name, esc);
	else	/* labels ends in '}' */
		s = fh_xasprintf("%.*s,%s=\"%s\"}", (int)strlen(labels) - 1,
		    labels, name, esc);
	free(esc);
	return s;
}

static void
http_sample_add(struct http_samples *ss, char *name, const char *labels,
    double value)
{
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? 2 * ss->cap : 64;
		ss->v = fh_xrealloc(ss->v, ss->cap * sizeof *ss->v);
	}
	ss->v[ss->n].name = name;
	ss->v[ss->n].labels = fh_xstrdup(labels);
	ss->v[ss->n].value = value;
	ss->v[ss->n].order = ss->n;
	ss->n++;
}

static void	http_metrics_walk(struct http_samples *, const char *prefix,
		    const char *labels, json_t *);

static void
http_metrics_value(struct http_samples *ss, const char *prefix,
    const char *key, const char *labels, json_t *v)
{
	char	*name;
	int	 i;

	if (json_is_number(v) || json_is_boolean(v)) {
		name = http_metric_name(prefix, key);
		http_sample_add(ss, name, labels, json_is_number(v) ?
		    json_number_value(v) : json_is_true(v) ? 1 : 0);
		return;
	}
	if (!json_is_object(v))
		return;
	for (i = 0; http_label_maps[i].key != NULL; i++)
		if (strcmp(key, http_label_maps[i].key) == 0)
			break;
	if (http_label_maps[i].key == NULL) {
		name = http_metric_name(prefix, key);
		http_metrics_walk(ss, name, labels, v);
		free(name);
		return;
	}
	/* A map whose keys become label values. */
	{
		const char	*k, *s;
		json_t		*c;
		char		*sub, *lab, *lab2;

		name = http_metric_name(prefix, http_label_maps[i].prefix);
		json_object_foreach(v, k, c) {
			lab = http_label_add(labels, http_label_maps[i].label,
			    k);
			if (json_is_object(c)) {
				if ((s = json_string_value(json_object_get(c,
				    "type"))) != NULL) {
					lab2 = http_label_add(lab, "type", s);
					free(lab);
					lab = lab2;
				}
				if ((s = json_string_value(json_object_get(c,
				    "protocol"))) != NULL) {
					lab2 = http_label_add(lab, "protocol",
					    s);
					free(lab);
					lab = lab2;
				}
				http_metrics_walk(ss, name, lab, c);
			} else if (json_is_number(c)) {
				sub = fh_xstrdup(name);
				http_sample_add(ss, sub, lab,
				    json_number_value(c));
			}
			free(lab);
		}
		free(name);
	}
}

static void
http_metrics_walk(struct http_samples *ss, const char *prefix,
    const char *labels, json_t *o)
{
	const char	*k, *kk;
	json_t		*v, *vv;

	json_object_foreach(o, k, v) {
		/* The sinks map is transparent: firehose_mqtt_... */
		if (strcmp(prefix, "firehose") == 0 &&
		    strcmp(k, "sinks") == 0 && json_is_object(v)) {
			json_object_foreach(v, kk, vv)
				http_metrics_value(ss, prefix, kk, labels, vv);
			continue;
		}
		http_metrics_value(ss, prefix, k, labels, v);
	}
}

static int
http_sample_cmp(const void *a, const void *b)
{
	const struct http_sample *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

char *
http_metrics_render(json_t *stats)
{
	struct http_samples	 ss = { NULL, 0, 0 };
	struct evbuffer		*b = evbuffer_new();
	size_t			 i, len;
	char			*out;

	http_metrics_walk(&ss, "firehose", "", stats);
	if (ss.n > 0)
		qsort(ss.v, ss.n, sizeof *ss.v, http_sample_cmp);
	for (i = 0; i < ss.n; i++) {
		if (i == 0 || strcmp(ss.v[i].name, ss.v[i - 1].name) != 0)
			evbuffer_add_printf(b, "# TYPE %s untyped\n",
			    ss.v[i].name);
		if (ss.v[i].value == (double)(long long)ss.v[i].value)
			evbuffer_add_printf(b, "%s%s %lld\n", ss.v[i].name,
			    ss.v[i].labels, (long long)ss.v[i].value);
		else
			evbuffer_add_printf(b, "%s%s %.10g\n", ss.v[i].name,
			    ss.v[i].labels, ss.v[i].value);
	}
	for (i = 0; i < ss.n; i++) {
		free(ss.v[i].name);
		free(ss.v[i].labels);
	}
	free(ss.v);
	len = evbuffer_get_length(b);
	out = fh_xmalloc(len + 1);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return out;
}
