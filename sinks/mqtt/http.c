/* HTTP on the ws/wss listeners: head parser and upgrade check. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/http.h"
#include "sinks/mqtt/listener.h"
#include "lib/ws/ws_frame.h"

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

static void
http_respond(struct evbuffer *out, int status, const char *ctype,
    const char *extra, const char *body, size_t len)
{
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n%s\r\n", status, fh_http_status_text(status),
	    ctype, len, extra ? extra : "");
	evbuffer_add(out, body, len);
}

void
http_respond_status(struct evbuffer *out, int status, const char *why)
{
	char	*body = fh_xasprintf("%d %s: %s\n", status,
	    fh_http_status_text(status), why);

	http_respond(out, status, "text/plain; charset=utf-8",
	    status == 426 ? "Sec-WebSocket-Version: 13\r\n" :
	    status == 405 ? "Allow: GET, HEAD\r\n" : NULL,
	    body, strlen(body));
	free(body);
}
