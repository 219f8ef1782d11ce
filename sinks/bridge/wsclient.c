/* MQTT over WebSocket, client side: see wsclient.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <openssl/evp.h>

#include "gateway/xmalloc.h"
#include "lib/ws/ws_frame.h"
#include "sinks/bridge/wsclient.h"

char *
wsclient_request(const char *host, int port, const char *path,
    char key[WSCLIENT_KEY_LEN + 1])
{
	unsigned char	raw[16];
	bool		v6 = strchr(host, ':') != NULL;

	evutil_secure_rng_get_bytes(raw, sizeof raw);
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
	key[WSCLIENT_KEY_LEN] = '\0';
	return fh_xasprintf("GET %s HTTP/1.1\r\n"
	    "Host: %s%s%s:%d\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", *path ? path : "/", v6 ? "[" : "", host, v6 ? "]" : "",
	    port, key);
}

/* Does the comma-separated header value list hold token? */
static bool
wsclient_has_token(const char *v, size_t len, const char *token)
{
	size_t	tl = strlen(token), i = 0, s, e;

	while (i < len) {
		while (i < len && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

int
wsclient_response(const uint8_t *buf, size_t len, const char *key,
    size_t *used, char *why, size_t whylen)
{
	const char	*p = (const char *)buf, *end = NULL, *line, *eol;
	const char	*colon, *v;
	char		 accept[29];
	size_t		 i, n, vl;
	bool		 upgrade = false, connection = false, ok = false;
	int		 code;

	*why = '\0';
	for (i = 0; i + 3 < len; i++)
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			/* just after the last header's CRLF */
			end = p + i + 2;
			break;
		}
	if (end == NULL) {
		if (len >= WSCLIENT_MAX_RESPONSE) {
			snprintf(why, whylen, "no end of the HTTP head in %d "
			    "bytes", WSCLIENT_MAX_RESPONSE);
			return -1;
		}
		/* not even HTTP: say so before waiting for more */
		n = len < 5 ? len : 5;
		if (memcmp(p, "HTTP/", n) != 0) {
			snprintf(why, whylen, "not an HTTP answer");
			return -1;
		}
		return 1;
	}
	*used = (size_t)(end - p) + 2;
	eol = memchr(p, '\r', (size_t)(end - p));
	if (eol == NULL || eol - p < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0 ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11])) {
		snprintf(why, whylen, "not an HTTP/1.1 answer");
		return -1;
	}
	code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (code != 101) {
		n = (size_t)(eol - p) - 9;
		snprintf(why, whylen, "HTTP %.*s", (int)(n > 80 ? 80 : n),
		    p + 9);
		for (i = 0; why[i] != '\0'; i++)	/* printable in logs */
			if (!isprint((unsigned char)why[i]))
				why[i] = '?';
		return -1;
	}
	ws_frame_accept_key(key, strlen(key), accept);
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(end - line));
		if (eol == NULL || eol[1] != '\n')
			break;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL)
			continue;
		n = (size_t)(colon - line);
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vl = (size_t)(eol - v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (n == 7 && strncasecmp(line, "Upgrade", 7) == 0)
			upgrade = wsclient_has_token(v, vl, "websocket");
		else if (n == 10 && strncasecmp(line, "Connection", 10) == 0)
			connection = wsclient_has_token(v, vl, "upgrade");
		else if (n == 20 &&
		    strncasecmp(line, "Sec-WebSocket-Accept", 20) == 0)
			ok = vl == 28 && memcmp(v, accept, 28) == 0;
		else if (n == 22 &&
		    strncasecmp(line, "Sec-WebSocket-Protocol", 22) == 0 &&
		    !(vl == 4 && strncasecmp(v, "mqtt", 4) == 0)) {
			snprintf(why, whylen, "the server chose a subprotocol "
			    "other than mqtt");
			return -1;
		}
	}
	if (!upgrade || !connection) {
		snprintf(why, whylen, "101 without Upgrade: websocket");
		return -1;
	}
	if (!ok) {
		snprintf(why, whylen, "wrong Sec-WebSocket-Accept");
		return -1;
	}
	return 0;
}

/* ---- the filter ------------------------------------------------------ */

struct wsclient {
	struct bufferevent	*under;
	uint64_t		 max_frame;
	char			 err[96];
};

static void
wsclient_send(struct bufferevent *under, uint8_t opcode, const uint8_t *p,
    size_t len)
{
	uint8_t	hdr[WS_HEADER_MAX], mask[4], ctl[WS_CONTROL_MAX];
	size_t	hl;

	evutil_secure_rng_get_bytes(mask, sizeof mask);
	hl = ws_frame_write_header(hdr, true, opcode, len, mask);
	memcpy(ctl, p, len);
	ws_frame_mask(ctl, len, mask, 0);
	bufferevent_write(under, hdr, hl);
	bufferevent_write(under, ctl, len);
}

static enum bufferevent_filter_result
wsclient_in_cb(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct wsclient		*w = arg;
	struct ws_frame_hdr	 h;
	uint8_t			 hb[WS_HEADER_MAX], ctl[WS_CONTROL_MAX];
	size_t			 n;
	bool			 produced = false;
	int			 hl;

	(void)lim;
	(void)mode;
	for (;;) {
		n = evbuffer_get_length(src);
		if (n > sizeof hb)
			n = sizeof hb;
		evbuffer_copyout(src, hb, n);
		if ((hl = ws_frame_parse_header(hb, n, &h)) == 0)
			break;
		if (hl < 0 || h.masked || h.rsv != 0) {
			/* RFC 6455 5.1: a server never masks */
			snprintf(w->err, sizeof w->err, "bad WebSocket frame "
			    "from the remote");
			return BEV_ERROR;
		}
		if (h.len > w->max_frame || (h.opcode >= WS_OP_CLOSE &&
		    (h.len > WS_CONTROL_MAX || !h.fin))) {
			snprintf(w->err, sizeof w->err, "WebSocket frame of "
			    "%llu bytes from the remote, over the limit",
			    (unsigned long long)h.len);
			return BEV_ERROR;
		}
		if (evbuffer_get_length(src) < (size_t)hl + h.len)
			break;
		/* hand over what came before a close first (a CONNACK that
		 * refuses us), the close on the next call */
		if (h.opcode == WS_OP_CLOSE && produced)
			break;
		evbuffer_drain(src, (size_t)hl);
		switch (h.opcode) {
		case WS_OP_BINARY:
		case WS_OP_CONT:
			evbuffer_remove_buffer(src, dst, (size_t)h.len);
			produced = true;
			break;
		case WS_OP_PING:
			evbuffer_remove(src, ctl, (size_t)h.len);
			wsclient_send(w->under, WS_OP_PONG, ctl, (size_t)h.len);
			break;
		case WS_OP_PONG:
			evbuffer_drain(src, (size_t)h.len);
			break;
		case WS_OP_CLOSE:
			evbuffer_remove(src, ctl, (size_t)h.len);
			snprintf(w->err, sizeof w->err, "WebSocket closed by "
			    "the remote (code %d)", h.len >= 2 ?
			    ctl[0] << 8 | ctl[1] : WS_CLOSE_NO_STATUS);
			return BEV_ERROR;
		default:
			snprintf(w->err, sizeof w->err, "WebSocket %s frame "
			    "from the remote", h.opcode == WS_OP_TEXT ? "text" :
			    "unknown");
			return BEV_ERROR;
		}
	}
	return produced ? BEV_OK : BEV_NEED_MORE;
}

/* Everything the link wrote in this turn goes as one masked frame. */
static enum bufferevent_filter_result
wsclient_out_cb(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	uint8_t			 hdr[WS_HEADER_MAX], mask[4];
	struct evbuffer_iovec	 v;
	size_t			 len = evbuffer_get_length(src), hl;

	(void)arg;
	(void)lim;
	(void)mode;
	if (len == 0)
		return BEV_NEED_MORE;
	evutil_secure_rng_get_bytes(mask, sizeof mask);
	hl = ws_frame_write_header(hdr, true, WS_OP_BINARY, len, mask);
	evbuffer_add(dst, hdr, hl);
	if (evbuffer_reserve_space(dst, (ev_ssize_t)len, &v, 1) < 1)
		return BEV_ERROR;
	evbuffer_remove(src, v.iov_base, len);
	ws_frame_mask(v.iov_base, len, mask, 0);
	v.iov_len = len;
	evbuffer_commit_space(dst, &v, 1);
	return BEV_OK;
}

static void
wsclient_free(void *arg)
{
	free(arg);
}

struct bufferevent *
wsclient_wrap(struct bufferevent *under, uint64_t max_frame,
    const char **err)
{
	struct wsclient		*w = fh_xcalloc(1, sizeof *w);
	struct bufferevent	*bev;

	w->under = under;
	w->max_frame = max_frame;
	bev = bufferevent_filter_new(under, wsclient_in_cb, wsclient_out_cb,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, wsclient_free, w);
	if (bev == NULL) {
		free(w);
		return NULL;
	}
	*err = w->err;
	return bev;
}
