/*
 * Listeners: mqtt (tcp), mqtts (TLS), ws and wss (WebSocket, with the
 * built-in HTTP pages). Whatever the wire, the broker gets a bufferevent
 * with plain MQTT bytes once the transport is ready: after the TLS
 * handshake, after the WebSocket upgrade. Until then a connection is a
 * listener_conn, owned here, with a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/log_limit.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/http.h"
#include "sinks/mqtt/listener.h"
#include "sinks/mqtt/tls.h"
#include "sinks/mqtt/transport.h"

/* A TLS handshake and an HTTP request (or the flushing of the answer)
 * must be done within this, in total: a deadline, not an idle timeout, so
 * that a peer trickling bytes cannot hold a connection longer. */
#define LISTENER_SETUP_SEC	10
/* Connections in TLS handshake or HTTP at once, per listener; more are
 * closed at accept (the broker's max_connections counts only MQTT). */
#define LISTENER_PENDING_MAX	1024

struct listener_conf {
	int	 protocol;	/* index in listener_protocol_names */
	char	*bind;
	char	*cert_file;
	char	*key_file;
	char	*ca_file;
	bool	 require_certificate;
	bool	 use_identity_as_username;
	char	*tls_version;
	char	*ciphers;
	char	*path;
	char	*allowed_origins;
	size_t	 max_frame_size;
	size_t	 max_message_size;
};

/* In the order of the flags in listener_protocol_flags. */
static const char *const listener_protocol_names[] = {
	"mqtt", "mqtts", "ws", "wss", NULL
};

const struct fh_conf_var mqtt_listener_vars[] = {
	FH_CONF_ENUM("protocol", struct listener_conf, protocol,
	    listener_protocol_names, "mqtt",
	    "mqtt (plain TCP), mqtts (TLS), ws (WebSocket, with /healthz "
	    "and /metrics) or wss (WebSocket over TLS)."),
	FH_CONF_STR_REQ("bind", struct listener_conf, bind,
	    "host:port, [v6]:port, or :port for every address. Ports "
	    "below 1024 need root (see [gateway] user) or "
	    "CAP_NET_BIND_SERVICE."),
	FH_CONF_STR("cert_file", struct listener_conf, cert_file, "",
	    "mqtts, wss: the server certificate chain (PEM). Reloaded on "
	    "SIGHUP for new connections."),
	FH_CONF_STR("key_file", struct listener_conf, key_file, "",
	    "mqtts, wss: the private key of cert_file (PEM)."),
	FH_CONF_STR("ca_file", struct listener_conf, ca_file, "",
	    "mqtts, wss: CA bundle for client certificates; set, clients "
	    "may present one."),
	FH_CONF_BOOL("require_certificate", struct listener_conf,
	    require_certificate, "false",
	    "mqtts, wss: refuse clients without a certificate signed by "
	    "ca_file."),
	FH_CONF_BOOL("use_identity_as_username", struct listener_conf,
	    use_identity_as_username, "false",
	    "mqtts, wss: the client certificate's CN is the user name "
	    "(authenticated); needs ca_file."),
	FH_CONF_STR("tls_version", struct listener_conf, tls_version,
	    TLS_DEFAULT_VERSION,
	    "mqtts, wss: the lowest TLS version accepted: tlsv1.2 or "
	    "tlsv1.3."),
	FH_CONF_STR("ciphers", struct listener_conf, ciphers,
	    TLS_DEFAULT_CIPHERS,
	    "mqtts, wss: OpenSSL cipher list for TLS 1.2."),
	FH_CONF_STR("path", struct listener_conf, path, "",
	    "ws, wss: the HTTP path of the WebSocket upgrade; empty: any "
	    "path."),
	FH_CONF_STR("allowed_origins", struct listener_conf, allowed_origins,
	    "",
	    "ws, wss: Origin values allowed to upgrade, separated by "
	    "commas or blanks; empty: any. A request without Origin "
	    "passes."),
	FH_CONF_SIZE("max_frame_size", struct listener_conf, max_frame_size,
	    "0",
	    "ws, wss: a larger WebSocket frame closes the connection "
	    "(1009). 0: no limit of its own."),
	FH_CONF_SIZE("max_message_size", struct listener_conf,
	    max_message_size, "0",
	    "ws, wss: a larger reassembled WebSocket message closes the "
	    "connection (1009). 0: no limit of its own."),
	FH_CONF_END
};

/* Keys that only some protocols take. */
static const char *const listener_tls_keys[] = {
	"cert_file", "key_file", "ca_file", "require_certificate",
	"use_identity_as_username", "tls_version", "ciphers", NULL
};
static const char *const listener_ws_keys[] = {
	"path", "allowed_origins", "max_frame_size", "max_message_size", NULL
};

#define LISTENER_TLS	0x1
#define LISTENER_WS	0x2

/* Indexed by listener_conf.protocol (listener_protocol_names). */
static const int listener_protocol_flags[] = {
	0, LISTENER_TLS, LISTENER_WS, LISTENER_TLS | LISTENER_WS
};

struct listener_counters {
	uint64_t	accepted;
	uint64_t	handed;		/* to the broker */
	uint64_t	tls_failed;
	uint64_t	setup_timeouts;
	uint64_t	setup_refused;	/* over LISTENER_PENDING_MAX */
	uint64_t	http_requests;
	uint64_t	http_bad;
	uint64_t	http_streams;	/* handed to a route's stream */
	uint64_t	ws_rejected;
};

enum listener_conn_state {
	LC_HANDSHAKE,		/* TLS */
	LC_HTTP,		/* reading the request head */
	LC_RESPOND,		/* flushing a response, then close */
};

struct listener_conn {
	TAILQ_ENTRY(listener_conn)	 entry;
	struct mqtt_listener		*l;
	struct bufferevent		*bev;
	struct event			*deadline;
	enum listener_conn_state	 state;
	char				*cert_cn;
	char				 addr[INET6_ADDRSTRLEN + 8];
};

struct mqtt_listener {
	struct fh_gateway		*gw;
	char				*name;
	struct listener_conf		 conf;
	int				 flags;
	char				*host;
	int				 port;
	struct evconnlistener		*lev;
	struct event			*resume;	/* after EMFILE */
	mqtt_accept_cb			 accept_cb;
	void				*arg;
	SSL_CTX				*ssl_ctx;
	char				**origins;
	size_t				 norigins;
	struct http_ws_opts		 http_opts;
	struct transport_opts		 ws_opts;
	TAILQ_HEAD(, listener_conn)	 conns;
	size_t				 npending;
	bool				 full;	/* logged once per episode */
	/* Failed handshakes, timeouts, bad HTTP: one line per address a
	 * minute for each. */
	struct fh_log_limit		*tls_log, *timeout_log, *http_log;
	struct transport_set		 ws;
	struct listener_counters	 c;
};

static void
listener_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char	host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
}

static const char *
listener_protocol(const struct mqtt_listener *l)
{
	return listener_protocol_names[l->conf.protocol];
}

static void
listener_conn_free(struct listener_conn *lc)
{
	TAILQ_REMOVE(&lc->l->conns, lc, entry);
	lc->l->npending--;
	event_free(lc->deadline);
	if (lc->bev != NULL)
		fh_iobev_free(lc->bev);
	free(lc->cert_cn);
	free(lc);
}

/* The transport is ready: the broker takes bev from here. */
static void
listener_hand(struct mqtt_listener *l, struct bufferevent *bev,
    const char *addr, const char *cert_cn, struct transport_session *ts)
{
	struct mqtt_peer	peer;

	peer.listener = l->name;
	peer.protocol = listener_protocol(l);
	peer.addr = addr;
	peer.cert_cn = cert_cn;
	peer.transport = ts;
	l->c.handed++;
	l->accept_cb(bev, &peer, l->arg);
}

/* Take bev away from lc (which is freed) and give it to the broker. */
static void
listener_conn_hand(struct listener_conn *lc, struct bufferevent *bev,
    struct transport_session *ts)
{
	struct mqtt_listener	*l = lc->l;
	char			 addr[sizeof lc->addr];
	char			*cn = lc->cert_cn;

	memcpy(addr, lc->addr, sizeof addr);
	lc->cert_cn = NULL;
	lc->bev = NULL;
	listener_conn_free(lc);
	listener_hand(l, bev, addr, cn, ts);
	free(cn);
}


static void	listener_http_read_cb(struct bufferevent *, void *);

static void
listener_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	static const struct transport_opts listener_plain_opts = {
		.framing = TRANSPORT_PLAIN,
	};
	struct listener_conn	*lc = arg;
	struct mqtt_listener	*l = lc->l;
	struct bufferevent	*wbev;
	unsigned long		 e;
	char			 why[256];

	if (lc->state == LC_HANDSHAKE && (what & BEV_EVENT_CONNECTED)) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		if (l->conf.use_identity_as_username)
			lc->cert_cn = tls_peer_cn(ssl);
		fh_log(LOG_DEBUG, "listener %s: %s: %s with %s", l->name,
		    lc->addr, SSL_get_version(ssl), SSL_get_cipher(ssl));
		if (l->flags & LISTENER_WS) {
			lc->state = LC_HTTP;
			if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
				listener_http_read_cb(bev, lc);
			return;
		}
		/* mqtts: the plain transport filter coalesces the broker's
		 * small writes into big TLS records (see transport.h). Its
		 * SSL_write()s go to a worker loop, if any. */
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		lc->bev = NULL;
		fh_iobev_hand(fh_gateway_ioloops(l->gw), bev);
		if ((wbev = transport_wrap(&l->ws, bev, &listener_plain_opts,
		    lc->addr, NULL)) == NULL) {
			fh_iobev_free(bev);
			listener_conn_free(lc);
			return;
		}
		listener_conn_hand(lc, wbev, NULL);
		return;
	}
	if (lc->state == LC_HANDSHAKE) {
		l->c.tls_failed++;
		if ((e = bufferevent_get_openssl_error(bev)) != 0)
			ERR_error_string_n(e, why, sizeof why);
		else if (what & BEV_EVENT_EOF)
			snprintf(why, sizeof why, "peer closed the connection");
		else
			snprintf(why, sizeof why, "%s",
			    strerror(EVUTIL_SOCKET_ERROR()));
		while (bufferevent_get_openssl_error(bev) != 0)
			;
		fh_log_limited(l->tls_log, LOG_WARNING, lc->addr,
		    "listener %s: TLS handshake with %s failed: %s", l->name,
		    lc->addr, why);
	}
	listener_conn_free(lc);
}

static void
listener_conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener_conn	*lc = arg;
	struct mqtt_listener	*l = lc->l;

	(void)fd;
	(void)what;
	if (lc->state != LC_RESPOND) {	/* else: the lingering close ends */
		l->c.setup_timeouts++;
		fh_log_limited(l->timeout_log, LOG_WARNING, lc->addr,
		    "listener %s: %s: %s timed out", l->name, lc->addr,
		    lc->state == LC_HANDSHAKE ? "TLS handshake" :
		    "HTTP request");
	}
	listener_conn_free(lc);
}

static void
listener_respond_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Flushed: send FIN, then wait for the peer's EOF (lingering close, so
 * that unread input does not turn our close into an RST). */
static void
listener_respond_write_cb(struct bufferevent *bev, void *arg)
{
	evutil_socket_t	fd;

	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    (fd = bufferevent_getfd(bev)) >= 0)
		shutdown(fd, SHUT_WR);
}

/* An HTTP answer is queued: flush it, then close. */
static void
listener_conn_respond(struct listener_conn *lc)
{
	lc->state = LC_RESPOND;
	listener_respond_read_cb(lc->bev, lc);
	bufferevent_setcb(lc->bev, listener_respond_read_cb,
	    listener_respond_write_cb, listener_conn_event_cb, lc);
	bufferevent_enable(lc->bev, EV_READ | EV_WRITE);
}

static void
listener_http_reject(struct listener_conn *lc, int status, const char *why)
{
	fh_log_limited(lc->l->http_log, LOG_INFO, lc->addr,
	    "listener %s: %s: HTTP %d: %s", lc->l->name, lc->addr, status,
	    why);
	http_respond_status(bufferevent_get_output(lc->bev), status, why);
	listener_conn_respond(lc);
}

/* A plain request: the gateway's routes answer it, or take the
 * connection over as a stream (bev is theirs then). */
static void
listener_http_dispatch(struct listener_conn *lc, struct http_request *req,
    size_t headlen)
{
	struct mqtt_listener	*l = lc->l;
	struct bufferevent	*bev = lc->bev;
	struct fh_http_head	 h;
	const char		*names[HTTP_HEADERS_MAX];
	const char		*values[HTTP_HEADERS_MAX];
	size_t			 nlens[HTTP_HEADERS_MAX];
	size_t			 vlens[HTTP_HEADERS_MAX];
	size_t			 i;
	bool			 taken;
	int			 status;

	for (i = 0; i < req->nheaders; i++) {
		names[i] = req->headers[i].name.p;
		nlens[i] = req->headers[i].name.len;
		values[i] = req->headers[i].value.p;
		vlens[i] = req->headers[i].value.len;
	}
	h.listener = l->name;
	h.peer = lc->addr;
	h.method = req->method.p;
	h.method_len = req->method.len;
	h.target = req->target.p;
	h.target_len = req->target.len;
	h.nheaders = req->nheaders;
	h.names = names;
	h.name_lens = nlens;
	h.values = values;
	h.value_lens = vlens;
	status = fh_http_dispatch(l->gw, &h, bev, &taken);
	fh_log(LOG_DEBUG, "listener %s: %s: %.*s %.*s -> %d%s", l->name,
	    lc->addr, (int)req->method.len, req->method.p,
	    (int)req->target.len, req->target.p, status,
	    taken ? " (stream)" : "");
	if (!taken) {
		listener_conn_respond(lc);
		return;
	}
	/* The head points into the input: drop it only now. */
	evbuffer_drain(bufferevent_get_input(bev), headlen);
	l->c.http_streams++;
	lc->bev = NULL;
	listener_conn_free(lc);
}

static void
listener_http_read_cb(struct bufferevent *bev, void *arg)
{
	struct listener_conn	*lc = arg;
	struct mqtt_listener	*l = lc->l;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct http_request	 req;
	struct bufferevent	*wbev;
	struct transport_session *ts;
	const char		*why, *sub;
	char			*resp;
	size_t			 len = evbuffer_get_length(in);
	int			 n, status;

	if (lc->state != LC_HTTP)
		return;
	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX;
	n = http_request_parse(evbuffer_pullup(in, (ev_ssize_t)len), len,
	    &req);
	if (n == HTTP_PARSE_MORE)
		return;
	l->c.http_requests++;
	if (n < 0) {
		l->c.http_bad++;
		listener_http_reject(lc, n == HTTP_PARSE_TOO_LARGE ? 431 : 400,
		    "malformed HTTP request");
		return;
	}
	if (!http_is_upgrade(&req)) {
		listener_http_dispatch(lc, &req, (size_t)n);
		return;
	}
	if ((status = http_ws_upgrade(&req, &l->http_opts, &resp, &sub,
	    &why)) != 0) {
		l->c.ws_rejected++;
		listener_http_reject(lc, status, why);
		return;
	}
	evbuffer_drain(in, (size_t)n);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	evbuffer_add(bufferevent_get_output(bev), resp, strlen(resp));
	free(resp);
	fh_log(LOG_DEBUG, "listener %s: %s: websocket upgrade (%s)", l->name,
	    lc->addr, sub ? sub : "no subprotocol");
	lc->bev = NULL;
	if ((wbev = transport_wrap(&l->ws, bev, &l->ws_opts,
	    lc->addr, &ts)) == NULL) {
		bufferevent_free(bev);
		listener_conn_free(lc);
		return;
	}
	listener_conn_hand(lc, wbev, ts);
}

static struct listener_conn *
listener_conn_create(struct mqtt_listener *l, struct bufferevent *bev,
    enum listener_conn_state state, const char *addr)
{
	struct listener_conn	*lc = fh_xcalloc(1, sizeof *lc);
	struct timeval		 tv = { LISTENER_SETUP_SEC, 0 };

	lc->deadline = evtimer_new(fh_gateway_base(l->gw),
	    listener_conn_deadline_cb, lc);
	evtimer_add(lc->deadline, &tv);

	lc->l = l;
	lc->bev = bev;
	lc->state = state;
	snprintf(lc->addr, sizeof lc->addr, "%s", addr);
	TAILQ_INSERT_TAIL(&l->conns, lc, entry);
	l->npending++;
	bufferevent_setcb(bev, listener_http_read_cb, NULL,
	    listener_conn_event_cb, lc);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return lc;
}

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct mqtt_listener	*l = arg;
	struct event_base	*base = fh_gateway_base(l->gw);
	struct bufferevent	*bev;
	SSL			*ssl = NULL;
	char			 addr[INET6_ADDRSTRLEN + 8];
	int			 one = 1;

	(void)lev;
	(void)salen;
	l->c.accepted++;
	listener_format_addr(sa, addr, sizeof addr);
	if ((l->flags & (LISTENER_TLS | LISTENER_WS)) &&
	    l->npending >= LISTENER_PENDING_MAX) {
		l->c.setup_refused++;
		if (!l->full)
			fh_log(LOG_WARNING, "listener %s: %zu connections in "
			    "setup, refusing more (first: %s)", l->name,
			    l->npending, addr);
		l->full = true;
		evutil_closesocket(fd);
		return;
	}
	if (l->full && l->npending < LISTENER_PENDING_MAX / 2) {
		fh_log(LOG_INFO, "listener %s: accepting again", l->name);
		l->full = false;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (l->flags & LISTENER_TLS) {
		if ((ssl = SSL_new(l->ssl_ctx)) == NULL) {
			evutil_closesocket(fd);
			return;
		}
		/* An idle TLS connection gives its 16 kB read and write
		 * buffers back to the heap instead of holding them. */
		SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
		/* mqtts writes on a worker after the handshake; wss's
		 * WebSocket filter and HTTP stay on this loop. */
		bev = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
		    ((l->flags & LISTENER_WS) ? 0 :
		    fh_iobev_options(fh_gateway_ioloops(l->gw))));
		if (bev == NULL) {
			SSL_free(ssl);
			evutil_closesocket(fd);
			return;
		}
		/* A peer that just closes TCP has left, not attacked. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		listener_conn_create(l, bev, LC_HANDSHAKE, addr);
		return;
	}
	/* Plain MQTT's socket work goes to the I/O loops ([gateway]
	 * threads); WebSocket's filter runs our code, so it stays here. */
	if ((l->flags & LISTENER_WS) || fh_gateway_ioloops(l->gw) == NULL)
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	else
		bev = fh_iobev_socket_new(fh_gateway_ioloops(l->gw), fd);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (l->flags & LISTENER_WS) {
		listener_conn_create(l, bev, LC_HTTP, addr);
		return;
	}
	listener_hand(l, bev, addr, NULL, NULL);
}

static void
listener_free_origins(struct mqtt_listener *l)
{
	size_t	i;

	for (i = 0; i < l->norigins; i++)
		free(l->origins[i]);
	free(l->origins);
	l->origins = NULL;
	l->norigins = 0;
}

/* Validate the conf and build everything derived from it. */
static int
listener_apply(struct mqtt_listener *l, const struct fh_section *sec,
    struct listener_conf *lc, char **errstr)
{
	struct tls_opts	 to;
	const char	*key;
	char		*msg, *s, *tok, *save;
	SSL_CTX		*ctx = NULL;
	int		 i;

	l->flags = listener_protocol_flags[lc->protocol];
	if (!(l->flags & LISTENER_TLS))
		for (i = 0; listener_tls_keys[i] != NULL; i++)
			if (fh_section_get(sec, listener_tls_keys[i]) != NULL)
				return fh_conf_error(errstr, sec,
				    listener_tls_keys[i],
				    "%s applies only to mqtts and wss "
				    "listeners", listener_tls_keys[i]);
	if (!(l->flags & LISTENER_WS))
		for (i = 0; listener_ws_keys[i] != NULL; i++)
			if (fh_section_get(sec, listener_ws_keys[i]) != NULL)
				return fh_conf_error(errstr, sec,
				    listener_ws_keys[i],
				    "%s applies only to ws and wss listeners",
				    listener_ws_keys[i]);
	if (*lc->path != '\0' && *lc->path != '/')
		return fh_conf_error(errstr, sec, "path",
		    "path '%s' must start with '/'", lc->path);
	if (lc->max_frame_size != 0 && lc->max_message_size != 0 &&
	    lc->max_frame_size > lc->max_message_size)
		return fh_conf_error(errstr, sec, "max_frame_size", "%s",
		    "max_frame_size is larger than max_message_size");
	if (l->flags & LISTENER_TLS) {
		to.cert_file = lc->cert_file;
		to.key_file = lc->key_file;
		to.ca_file = lc->ca_file;
		to.require_certificate = lc->require_certificate;
		to.tls_version = lc->tls_version;
		to.ciphers = lc->ciphers;
		if ((ctx = tls_ctx_create(&to, &key, &msg)) == NULL) {
			fh_conf_error(errstr, sec, key, "%s", msg);
			free(msg);
			return -1;
		}
		if (lc->use_identity_as_username && *lc->ca_file == '\0') {
			SSL_CTX_free(ctx);
			return fh_conf_error(errstr, sec,
			    "use_identity_as_username", "%s",
			    "use_identity_as_username needs ca_file (client "
			    "certificates)");
		}
		SSL_CTX_free(l->ssl_ctx);
		l->ssl_ctx = ctx;
	}
	listener_free_origins(l);
	s = fh_xstrdup(lc->allowed_origins);
	for (tok = strtok_r(s, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		l->origins = fh_xrealloc(l->origins,
		    (l->norigins + 1) * sizeof *l->origins);
		l->origins[l->norigins++] = fh_xstrdup(tok);
	}
	free(s);
	l->http_opts.path = lc->path;
	l->http_opts.origins = l->origins;
	l->http_opts.norigins = l->norigins;
	l->ws_opts.framing = TRANSPORT_WEBSOCKET;
	l->ws_opts.max_frame = lc->max_frame_size;
	l->ws_opts.max_message = lc->max_message_size;
	/* wss's state is in its SSL too, which cannot be put aside */
	l->ws_opts.may_park = !(l->flags & LISTENER_TLS);
	return 0;
}

static struct fh_log_limit *
listener_log_limit(struct mqtt_listener *l, const char *what)
{
	char			 prefix[300];

	snprintf(prefix, sizeof prefix, "listener %s", l->name);
	return fh_log_limit_create(fh_gateway_base(l->gw), prefix, what,
	    FH_LOG_LIMIT_INTERVAL_MS, FH_LOG_LIMIT_ADDRS);
}

struct mqtt_listener *
mqtt_listener_create(struct fh_gateway *gw, const struct fh_section *sec,
    mqtt_accept_cb cb, void *arg, char **errstr)
{
	struct mqtt_listener	*l = fh_xcalloc(1, sizeof *l);

	l->gw = gw;
	l->name = fh_xstrdup(fh_section_name(sec));
	l->accept_cb = cb;
	l->arg = arg;
	TAILQ_INIT(&l->conns);
	transport_set_init(&l->ws, l->name);
	if (fh_conf_apply(sec, mqtt_listener_vars, &l->conf, errstr) != 0)
		goto fail;
	if (fh_parse_hostport(l->conf.bind, &l->host, &l->port) != 0) {
		fh_conf_error(errstr, sec, "bind", "bad bind address '%s': "
		    "expected host:port or [v6]:port", l->conf.bind);
		goto fail;
	}
	if (listener_apply(l, sec, &l->conf, errstr) != 0)
		goto fail;
	l->tls_log = listener_log_limit(l, "failed TLS handshakes");
	l->timeout_log = listener_log_limit(l, "setup timeouts");
	l->http_log = listener_log_limit(l, "rejected HTTP requests");
	return l;
fail:
	mqtt_listener_free(l);
	return NULL;
}

static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_listener	*l = arg;

	(void)fd;
	(void)what;
	if (l->lev != NULL)
		evconnlistener_enable(l->lev);
}

/* accept() failed: out of descriptors, most likely. Pause this listener
 * for a second instead of spinning on a socket that stays readable. */
static void
listener_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct mqtt_listener	*l = arg;
	struct timeval		 tv = { 1, 0 };
	int			 e = EVUTIL_SOCKET_ERROR();

	fh_log(LOG_WARNING, "listener %s: accept: %s; pausing for 1s",
	    l->name, evutil_socket_error_to_string(e));
	evconnlistener_disable(lev);
	if (l->resume == NULL)
		l->resume = evtimer_new(fh_gateway_base(l->gw),
		    listener_resume_cb, l);
	evtimer_add(l->resume, &tv);
}

/* A non-blocking listening socket; v6 sockets are v6-only so that
 * 0.0.0.0:N and [::]:N can both be bound. */
static evutil_socket_t
listener_socket(const struct sockaddr *sa, int salen)
{
	evutil_socket_t	fd;
	int		one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, sa, (socklen_t)salen) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
mqtt_listener_start(struct mqtt_listener *l)
{
	struct sockaddr_storage	ss;
	int			sslen = sizeof ss;
	evutil_socket_t		fd;
	char			addr[300];

	if (l->lev != NULL)
		return 0;
	snprintf(addr, sizeof addr, "%s%s%s:%d",
	    strchr(l->host, ':') ? "[" : "",
	    *l->host ? l->host : "0.0.0.0",
	    strchr(l->host, ':') ? "]" : "", l->port);
	memset(&ss, 0, sizeof ss);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss,
	    &sslen) != 0) {
		fh_log(LOG_ERR, "listener %s: cannot parse address %s",
		    l->name, addr);
		return -1;
	}
	if ((fd = listener_socket((struct sockaddr *)&ss, sslen)) < 0) {
		fh_log(LOG_ERR, "listener %s: cannot listen on %s: %s",
		    l->name, addr, strerror(errno));
		return -1;
	}
	l->lev = evconnlistener_new(fh_gateway_base(l->gw), listener_accept_cb,
	    l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024, fd);
	if (l->lev == NULL) {
		fh_log(LOG_ERR, "listener %s: cannot listen on %s: %s",
		    l->name, addr, strerror(errno));
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, listener_accept_error_cb);
	fh_log(LOG_INFO, "listener %s: %s on %s", l->name,
	    listener_protocol(l), addr);
	return 0;
}

void
mqtt_listener_stop(struct mqtt_listener *l)
{
	if (l->resume != NULL) {
		event_free(l->resume);
		l->resume = NULL;
	}
	if (l->lev != NULL) {
		evconnlistener_free(l->lev);
		l->lev = NULL;
	}
}

int
mqtt_listener_reload(struct mqtt_listener *l, const struct fh_section *sec,
    char **errstr)
{
	struct listener_conf	nc;
	int			rc = -1;

	memset(&nc, 0, sizeof nc);
	if (fh_conf_apply(sec, mqtt_listener_vars, &nc, errstr) != 0)
		goto out;
	if (nc.protocol != l->conf.protocol ||
	    strcmp(nc.bind, l->conf.bind) != 0) {
		fh_conf_error(errstr, sec, "bind", "%s", "protocol and bind "
		    "of a listener change only with a restart");
		goto out;
	}
	/* Builds a new SSL_CTX: connections that are up keep the old one
	 * (each SSL holds a reference), new ones get the new files. */
	if (listener_apply(l, sec, &nc, errstr) != 0)
		goto out;
	fh_conf_clear(mqtt_listener_vars, &l->conf);
	l->conf = nc;
	memset(&nc, 0, sizeof nc);
	/* The derived options point into conf: refresh them. */
	l->http_opts.path = l->conf.path;
	if (l->flags & LISTENER_TLS)
		fh_log(LOG_INFO, "listener %s: reloaded certificates from %s",
		    l->name, l->conf.cert_file);
	rc = 0;
out:
	fh_conf_clear(mqtt_listener_vars, &nc);
	return rc;
}

void
mqtt_listener_free(struct mqtt_listener *l)
{
	struct listener_conn	*lc;

	if (l == NULL)
		return;
	mqtt_listener_stop(l);
	while ((lc = TAILQ_FIRST(&l->conns)) != NULL)
		listener_conn_free(lc);
	transport_set_release(&l->ws);
	fh_log_limit_free(l->tls_log);
	fh_log_limit_free(l->timeout_log);
	fh_log_limit_free(l->http_log);
	SSL_CTX_free(l->ssl_ctx);
	listener_free_origins(l);
	fh_conf_clear(mqtt_listener_vars, &l->conf);
	free(l->host);
	free(l->name);
	free(l);
}

const char *
mqtt_listener_name(const struct mqtt_listener *l)
{
	return l->name;
}

const char *
mqtt_listener_bind(const struct mqtt_listener *l)
{
	return l->conf.bind;
}

void
mqtt_listener_stats(const struct mqtt_listener *l, json_t *o)
{
	const struct listener_counters *c = &l->c;

	json_object_set_new(o, "protocol", json_string(listener_protocol(l)));
	json_object_set_new(o, "accepted", json_integer(c->accepted));
	json_object_set_new(o, "connections", json_integer(c->handed));
	json_object_set_new(o, "pending", json_integer((json_int_t)l->npending));
	json_object_set_new(o, "setup_refused",
	    json_integer(c->setup_refused));
	json_object_set_new(o, "tls_handshake_failed",
	    json_integer(c->tls_failed));
	json_object_set_new(o, "setup_timeouts",
	    json_integer(c->setup_timeouts));
	json_object_set_new(o, "log_suppressed", json_integer((json_int_t)
	    (fh_log_limit_suppressed(l->tls_log) +
	    fh_log_limit_suppressed(l->timeout_log) +
	    fh_log_limit_suppressed(l->http_log))));
	if (l->flags & LISTENER_WS) {
		json_object_set_new(o, "http_requests",
		    json_integer(c->http_requests));
		json_object_set_new(o, "http_bad", json_integer(c->http_bad));
		json_object_set_new(o, "http_streams",
		    json_integer(c->http_streams));
		json_object_set_new(o, "ws_rejected",
		    json_integer(c->ws_rejected));
		transport_set_stats(&l->ws, o);
	}
}
