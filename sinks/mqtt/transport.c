/* The transport filter (WebSocket or plain framing); see transport.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/transport.h"
#include "lib/ws/ws_frame.h"

/* Largest frame we send; bigger writes become several frames. */
#define TRANSPORT_FRAME_OUT	1048576
/* Bytes queued on the socket before the broker's own buffer fills, and
 * the level under which it is topped up again. */
#define TRANSPORT_UNDER_WMARK	65536
#define TRANSPORT_UNDER_LOW	16384
/* How long a closing session may take to flush and hear the close. */
#define TRANSPORT_LINGER_SEC	5

struct transport_session {
	TAILQ_ENTRY(transport_session)	 entry;
	struct transport_set		*set;		/* NULL once released */
	struct transport_counters	*c;
	struct bufferevent	*under;
	struct bufferevent	*bev;		/* the broker's filter */
	struct ws_decoder	 dec;
	char			*peer;
	bool			 close_sent;
	bool			 closing;	/* broker let go */
	bool			 shut;		/* FIN sent */
	bool			 may_park;
	bool			 parked;	/* free_ctx: only free it */
	uint8_t			 framing;	/* enum transport_framing */
};	/* 256 B: an allocator size class, keep it within */

/* What a parked session keeps: its limits and its listener's counters. */
struct transport_parked {
	TAILQ_ENTRY(transport_parked)	 entry;
	struct transport_set		*set;		/* NULL once released */
	uint64_t			 max_frame;
	uint64_t			 max_message;
};

_Static_assert(sizeof(struct transport_session) <= 256,
    "struct transport_session grew");

/* Frames up to this size are copied rather than moved in chains. */
#define TRANSPORT_COPY_MAX	16384

static uint8_t			transport_scratch[16384];
static uint8_t		transport_out[WS_HEADER_MAX + TRANSPORT_COPY_MAX];
static struct transport_counters	transport_orphan_counters;

void
transport_set_init(struct transport_set *set, const char *listener)
{
	memset(set, 0, sizeof *set);
	TAILQ_INIT(&set->live);
	TAILQ_INIT(&set->parked);
	set->listener = listener;
}

static void
transport_session_free(struct transport_session *s)
{
	if (s->set != NULL) {
		TAILQ_REMOVE(&s->set->live, s, entry);
		s->set->c.open--;
	}
	if (s->under != NULL)
		fh_iobev_free(s->under);	/* mqtts may write on a worker */
	free(s->peer);
	free(s);
}

void
transport_set_release(struct transport_set *set)
{
	struct transport_session	*s;
	struct transport_parked		*p;

	while ((s = TAILQ_FIRST(&set->live)) != NULL) {
		if (s->closing) {
			transport_session_free(s);
			continue;
		}
		/* The broker still holds the filter: free_ctx finishes. */
		TAILQ_REMOVE(&set->live, s, entry);
		set->c.open--;
		s->set = NULL;
		s->c = &transport_orphan_counters;
	}
	while ((p = TAILQ_FIRST(&set->parked)) != NULL) {
		TAILQ_REMOVE(&set->parked, p, entry);
		set->c.open--;
		p->set = NULL;
	}
}

void
transport_set_stats(const struct transport_set *set, json_t *o)
{
	const struct transport_counters *c = &set->c;

	json_object_set_new(o, "ws_sessions", json_integer(c->sessions));
	json_object_set_new(o, "ws_open", json_integer(c->open));
	json_object_set_new(o, "ws_frames_out", json_integer(c->frames_out));
	json_object_set_new(o, "ws_bytes_in", json_integer(c->bytes_in));
	json_object_set_new(o, "ws_bytes_out", json_integer(c->bytes_out));
	json_object_set_new(o, "ws_pings", json_integer(c->pings));
	json_object_set_new(o, "ws_closes", json_integer(c->closes));
	json_object_set_new(o, "drops", json_pack("{s:I,s:I,s:I,s:I}",
	    "ws_protocol_error", (json_int_t)c->err_protocol,
	    "ws_text_frame", (json_int_t)c->err_unsupported,
	    "ws_bad_utf8", (json_int_t)c->err_utf8,
	    "ws_too_big", (json_int_t)c->err_too_big));
}

static void
transport_send_control(struct transport_session *s, uint8_t opcode,
    const uint8_t *p, size_t len)
{
	uint8_t	hdr[WS_HEADER_MAX];
	size_t	hl;

	hl = ws_frame_write_header(hdr, true, opcode, len, NULL);
	evbuffer_add(bufferevent_get_output(s->under), hdr, hl);
	if (len > 0)
		evbuffer_add(bufferevent_get_output(s->under), p, len);
}

static void
transport_send_close(struct transport_session *s, uint16_t code)
{
	uint8_t	p[2];

	if (s->close_sent)
		return;
	s->close_sent = true;
	if (code == WS_CLOSE_NO_STATUS) {
		transport_send_control(s, WS_OP_CLOSE, NULL, 0);
		return;
	}
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	transport_send_control(s, WS_OP_CLOSE, p, 2);
}

/* Tell the broker that the stream ended, from a deferred callback. */
static void
transport_notify(struct transport_session *s, short what)
{
	if (s->bev != NULL)
		bufferevent_trigger_event(s->bev, what | BEV_EVENT_READING,
		    BEV_TRIG_DEFER_CALLBACKS);
}

static void
transport_fail(struct transport_session *s, uint16_t code, const char *why)
{
	switch (code) {
	case WS_CLOSE_UNSUPPORTED:
		s->c->err_unsupported++;
		break;
	case WS_CLOSE_BAD_DATA:
		s->c->err_utf8++;
		break;
	case WS_CLOSE_TOO_BIG:
		s->c->err_too_big++;
		break;
	default:
		s->c->err_protocol++;
		break;
	}
	fh_log(LOG_WARNING, "listener %s: websocket %s: %s, closing with %u",
	    s->set ? s->set->listener : "?", s->peer, why, code);
	transport_send_close(s, code);
	transport_notify(s, BEV_EVENT_ERROR);
}

static const char *
transport_error_text(uint16_t code)
{
	switch (code) {
	case WS_CLOSE_TOO_BIG:
		return "frame or message too large";
	case WS_CLOSE_BAD_DATA:
		return "close reason is not UTF-8";
	default:
		return "protocol error";
	}
}

static enum bufferevent_filter_result
transport_input_filter(struct evbuffer *src, struct evbuffer *dst,
    ev_ssize_t lim, enum bufferevent_flush_mode mode, void *arg)
{
	struct transport_session	*s = arg;
	struct evbuffer_iovec	 v;
	struct ws_decoded	 res;
	bool			 produced = false;
	size_t			 n;

	/* Decoded data never waits in src: a filter is not called again
	 * for bytes it left behind until more arrive. */
	(void)lim;
	(void)mode;
	if (s->framing == TRANSPORT_PLAIN) {
		if (evbuffer_get_length(src) == 0)
			return BEV_NEED_MORE;
		evbuffer_add_buffer(dst, src);
		return BEV_OK;
	}
	while (!s->close_sent && evbuffer_get_length(src) > 0) {
		if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
			break;
		n = ws_decoder_feed(&s->dec, v.iov_base, v.iov_len,
		    transport_scratch, sizeof transport_scratch, &res);
		evbuffer_drain(src, n);
		if (res.data_len > 0) {
			if (res.data_opcode != WS_OP_BINARY) {
				transport_fail(s, WS_CLOSE_UNSUPPORTED,
				    "text frame (MQTT needs binary)");
				break;
			}
			evbuffer_add(dst, transport_scratch, res.data_len);
			s->c->bytes_in += res.data_len;
			produced = true;
		}
		switch (res.ev) {
		case WS_EV_PING:
			s->c->pings++;
			transport_send_control(s, WS_OP_PONG, res.ctl,
			    res.ctl_len);
			break;
		case WS_EV_CLOSE:
			s->c->closes++;
			transport_send_close(s, res.close_code);
			transport_notify(s, BEV_EVENT_EOF);
			break;
		case WS_EV_ERROR:
			transport_fail(s, res.close_code, transport_error_text(
			    res.close_code));
			break;
		default:
			if (n == 0 && res.data_len == 0)
				goto out;
			break;
		}
	}
out:
	if (s->close_sent)
		evbuffer_drain(src, evbuffer_get_length(src));
	return produced ? BEV_OK : BEV_NEED_MORE;
}

/*
 * How much of src goes into the next frame: small amounts whole, else
 * whole chains up to TRANSPORT_FRAME_OUT, so that the broker's (often shared,
 * by-reference) chains move without a copy. Only a single chain larger
 * than TRANSPORT_FRAME_OUT is split.
 */
static size_t
transport_frame_size(struct evbuffer *src, size_t len)
{
	struct evbuffer_iovec	v[16];
	size_t			n = 0;
	int			i, nv;

	if (len <= TRANSPORT_COPY_MAX)
		return len;
	nv = evbuffer_peek(src, -1, NULL, v, 16);
	for (i = 0; i < nv && i < 16; i++) {
		if (n + v[i].iov_len > TRANSPORT_FRAME_OUT)
			break;
		n += v[i].iov_len;
	}
	if (n == 0)
		n = TRANSPORT_FRAME_OUT;
	return n;
}

static enum bufferevent_filter_result
transport_output_filter(struct evbuffer *src, struct evbuffer *dst,
    ev_ssize_t lim, enum bufferevent_flush_mode mode, void *arg)
{
	struct transport_session	*s = arg;
	uint8_t			 hdr[WS_HEADER_MAX];
	size_t			 len, n, hl, written = 0;

	(void)mode;
	if (s->close_sent) {
		/* Nothing may follow a close frame. */
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_OK;
	}
	while ((len = evbuffer_get_length(src)) > 0) {
		if (lim >= 0 && written >= (size_t)lim)
			break;		/* the socket has enough queued */
		n = transport_frame_size(src, len);
		if (s->framing == TRANSPORT_PLAIN) {
			if (n <= TRANSPORT_COPY_MAX) {
				evbuffer_remove(src, transport_out, n);
				evbuffer_expand(dst, TRANSPORT_COPY_MAX +
				    WS_HEADER_MAX);
				evbuffer_add(dst, transport_out, n);
			} else
				evbuffer_remove_buffer(src, dst, n);
			written += n;
			continue;
		}
		if (n <= TRANSPORT_COPY_MAX) {
			/* Small frames are copied whole, so that they
			 * coalesce in dst: one write, one TLS record for
			 * many MQTT packets instead of two per packet. */
			hl = ws_frame_write_header(transport_out, true,
			    WS_OP_BINARY, n, NULL);
			evbuffer_remove(src, transport_out + hl, n);
			/* Big chains: TLS writes a record per chain. */
			evbuffer_expand(dst,
			    TRANSPORT_COPY_MAX + WS_HEADER_MAX);
			evbuffer_add(dst, transport_out, hl + n);
		} else {
			hl = ws_frame_write_header(hdr, true, WS_OP_BINARY, n,
			    NULL);
			evbuffer_add(dst, hdr, hl);
			evbuffer_remove_buffer(src, dst, n);
		}
		written += hl + n;
		s->c->frames_out++;
		s->c->bytes_out += n;
	}
	return BEV_OK;
}

/*
 * Lingering close: once our close frame is out, send FIN and read (and
 * drop) until the peer closes too, or the linger timeout. Closing with
 * unread input would send RST, which can destroy the close frame before
 * the peer reads it.
 */
static void
transport_closing_check(struct transport_session *s)
{
	evutil_socket_t	fd;

	if (s->shut ||
	    evbuffer_get_length(bufferevent_get_output(s->under)) != 0)
		return;
	s->shut = true;
	if ((fd = bufferevent_getfd(s->under)) >= 0)
		shutdown(fd, SHUT_WR);
}

static void
transport_closing_read_cb(struct bufferevent *under, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(under),
	    evbuffer_get_length(bufferevent_get_input(under)));
}

static void
transport_closing_write_cb(struct bufferevent *under, void *arg)
{
	(void)under;
	transport_closing_check(arg);
}

static void
transport_closing_event_cb(struct bufferevent *under, short what, void *arg)
{
	(void)under;
	(void)what;
	transport_session_free(arg);
}

/* The broker freed its filter: close politely, then free the socket. */
static void
transport_free_ctx(void *arg)
{
	struct transport_session	*s = arg;
	struct timeval		 tv = { TRANSPORT_LINGER_SEC, 0 };

	if (s->parked) {
		free(s);
		return;
	}
	s->bev = NULL;
	if (s->set == NULL) {
		transport_session_free(s);
		return;
	}
	s->closing = true;
	if (s->framing == TRANSPORT_WEBSOCKET)
		transport_send_close(s, WS_CLOSE_NORMAL);
	bufferevent_setwatermark(s->under, EV_WRITE, 0, 0);
	bufferevent_setcb(s->under, transport_closing_read_cb,
	    transport_closing_write_cb, transport_closing_event_cb, s);
	bufferevent_set_timeouts(s->under, &tv, &tv);
	bufferevent_enable(s->under, EV_READ | EV_WRITE);
	transport_closing_check(s);
}

/* A session over under, in set's live list unless set is NULL. */
static struct transport_session *
transport_session_new(struct transport_set *set, struct bufferevent *under,
    enum transport_framing framing, uint64_t max_frame,
    uint64_t max_message, const char *peer)
{
	struct transport_session	*s = fh_xcalloc(1, sizeof *s);

	s->set = set;
	s->c = set != NULL ? &set->c : &transport_orphan_counters;
	s->under = under;
	s->peer = fh_xstrdup(peer);
	s->framing = framing;
	ws_decoder_init(&s->dec, max_frame, max_message);
	bufferevent_setwatermark(under, EV_WRITE, TRANSPORT_UNDER_LOW,
	    TRANSPORT_UNDER_WMARK);
	s->bev = bufferevent_filter_new(under, transport_input_filter,
	    transport_output_filter, 0, transport_free_ctx, s);
	if (s->bev == NULL) {
		s->set = NULL;
		s->under = NULL;	/* the caller's still */
		transport_session_free(s);
		return NULL;
	}
	if (set != NULL)
		TAILQ_INSERT_TAIL(&set->live, s, entry);
	return s;
}

struct bufferevent *
transport_wrap(struct transport_set *set, struct bufferevent *under,
    const struct transport_opts *o, const char *peer,
    struct transport_session **sp)
{
	struct transport_session	*s;

	if ((s = transport_session_new(set, under, o->framing, o->max_frame,
	    o->max_message, peer)) == NULL)
		return NULL;
	s->may_park = o->may_park && o->framing == TRANSPORT_WEBSOCKET;
	set->c.sessions++;
	set->c.open++;
	/* Bytes that came with the upgrade request wait in under's input;
	 * have the filter look at them once the broker enables reading. */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0)
		bufferevent_trigger(under, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	if (sp != NULL)
		*sp = s;
	return s->bev;
}

bool
transport_parkable(const struct transport_session *s)
{
	return s->may_park && !s->close_sent && !s->closing &&
	    s->bev != NULL && ws_decoder_idle(&s->dec) &&
	    evbuffer_get_length(bufferevent_get_input(s->under)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(s->under)) == 0 &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0;
}

struct transport_parked *
transport_park(struct transport_session *s)
{
	struct transport_parked	*p = fh_xcalloc(1, sizeof *p);

	p->set = s->set;
	p->max_frame = s->dec.max_frame;
	p->max_message = s->dec.max_message;
	if (s->set != NULL) {
		TAILQ_REMOVE(&s->set->live, s, entry);
		TAILQ_INSERT_TAIL(&s->set->parked, p, entry);
	}
	/* The filter's free_ctx runs later, when libevent finalizes it:
	 * it frees s and nothing else. */
	s->parked = true;
	free(s->peer);
	s->peer = NULL;
	bufferevent_free(s->bev);
	(void)fh_iobev_release(s->under);
	return p;
}

struct bufferevent *
transport_unpark(struct transport_parked *p, struct event_base *base,
    evutil_socket_t fd, const char *peer, struct transport_session **sp)
{
	struct transport_session	*s;
	struct bufferevent		*under;

	if ((under = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		return NULL;
	if ((s = transport_session_new(p->set, under, TRANSPORT_WEBSOCKET,
	    p->max_frame, p->max_message, peer)) == NULL) {
		(void)fh_iobev_release(under);	/* fd: the caller's still */
		return NULL;
	}
	s->may_park = true;
	if (p->set != NULL)
		TAILQ_REMOVE(&p->set->parked, p, entry);
	free(p);
	*sp = s;
	return s->bev;
}

void
transport_parked_free(struct transport_parked *p)
{
	if (p->set != NULL) {
		TAILQ_REMOVE(&p->set->parked, p, entry);
		p->set->c.open--;
	}
	free(p);
}
