/* The IMAP IDLE watcher (lp_idle.h): a small state machine on events. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gateway/backoff.h"
#include "gateway/connect.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/secret.h"
#include "gateway/xmalloc.h"
#include "sources/launchpad/lp_idle.h"
#include "sources/launchpad/lp_imap.h"

enum idle_state {
	IDLE_OFF,		/* waiting for the reconnect timer */
	IDLE_CONNECT,
	IDLE_GREETING,
	IDLE_LOGIN,
	IDLE_CAPABILITY,
	IDLE_EXAMINE,
	IDLE_START,		/* IDLE sent, waiting for "+" */
	IDLE_IDLING,
	IDLE_DONE,		/* DONE sent, waiting for the tagged OK */
	IDLE_GAVE_UP,		/* no IDLE on this server */
};

struct lp_idle {
	struct fh_gateway	*gw;
	struct event_base	*base;
	struct fh_connect	*conn;		/* TCP on its way */
	struct lp_idle_conf	 conf;
	lp_idle_cb		 cb;
	void			*arg;
	struct bufferevent	*bev;
	struct event		*timer;		/* reconnect, re-IDLE */
	struct fh_backoff	 backoff;
	enum idle_state		 state;
	unsigned		 tagno;
	char			 tag[16];	/* the command in flight */
	bool			 has_idle;
	size_t			 skip;		/* literal to drop */
};

/* Per address, as libcurl's CONNECTTIMEOUT for the polls. */
#define LP_IDLE_CONNECT_MS	15000L

static void	idle_connect(struct lp_idle *);

static void
idle_close(struct lp_idle *im)
{
	fh_connect_cancel(im->conn);
	im->conn = NULL;
	if (im->bev != NULL) {
		bufferevent_free(im->bev);
		im->bev = NULL;
	}
	evtimer_del(im->timer);
}

static void
idle_fail(struct lp_idle *im, const char *why)
{
	struct timeval	tv;
	long		ms;

	idle_close(im);
	im->state = IDLE_OFF;
	ms = fh_backoff_next(&im->backoff);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(im->timer, &tv);
	im->cb(im->arg, LP_IDLE_DOWN, why);
}

static void
idle_send(struct lp_idle *im, enum idle_state next, const char *fmt,
    const char *a, const char *b)
{
	struct evbuffer	*out = bufferevent_get_output(im->bev);

	snprintf(im->tag, sizeof im->tag, "i%u", ++im->tagno);
	evbuffer_add_printf(out, "%s ", im->tag);
	evbuffer_add_printf(out, fmt, a, b);
	evbuffer_add(out, "\r\n", 2);
	im->state = next;
}

static void
idle_arm_reidle(struct lp_idle *im)
{
	struct timeval	tv;

	tv.tv_sec = im->conf.reidle_ms / 1000;
	tv.tv_usec = (im->conf.reidle_ms % 1000) * 1000;
	evtimer_add(im->timer, &tv);
}

/* One response line. Returns -1 after idle_fail(). */
static int
idle_line(struct lp_idle *im, const uint8_t *p, size_t len)
{
	struct lp_imap_line	 l;
	char			*u, *pw, *mb;

	if (lp_imap_parse_line(p, len, &l) != 0) {
		idle_fail(im, "unparsable IMAP response");
		return -1;
	}
	im->skip = l.literal;
	if (l.kind == LP_IMAP_UNTAGGED && l.status == LP_IMAP_BYE) {
		idle_fail(im, "server said BYE");
		return -1;
	}
	if (l.has_idle)
		im->has_idle = true;
	switch (im->state) {
	case IDLE_GREETING:
		if (l.kind != LP_IMAP_UNTAGGED || (l.status != LP_IMAP_OK &&
		    l.status != LP_IMAP_PREAUTH)) {
			idle_fail(im, "bad greeting");
			return -1;
		}
		u = lp_imap_quote(im->conf.user);
		pw = lp_imap_quote(im->conf.password);
		if (l.status == LP_IMAP_PREAUTH)
			idle_send(im, IDLE_CAPABILITY, "CAPABILITY%s%s", "",
			    "");
		else if (u != NULL && pw != NULL)
			idle_send(im, IDLE_LOGIN, "LOGIN %s %s", u, pw);
		free(u);
		free(pw);
		if (im->state == IDLE_GREETING) {
			idle_fail(im, "user or password cannot be quoted");
			return -1;
		}
		return 0;
	case IDLE_START:
		if (l.kind == LP_IMAP_CONTINUE) {
			im->state = IDLE_IDLING;
			fh_backoff_reset(&im->backoff);
			idle_arm_reidle(im);
			im->cb(im->arg, LP_IDLE_UP, NULL);
			return 0;
		}
		break;
	case IDLE_IDLING:
		if (l.kind == LP_IMAP_UNTAGGED && (l.exists || l.recent))
			im->cb(im->arg, LP_IDLE_NEW_MAIL, NULL);
		return 0;
	default:
		break;
	}
	if (l.kind != LP_IMAP_TAGGED) {
		if (l.kind == LP_IMAP_UNTAGGED && (l.exists || l.recent) &&
		    im->state == IDLE_DONE)
			im->cb(im->arg, LP_IDLE_NEW_MAIL, NULL);
		return 0;
	}
	if (strcmp(l.tag, im->tag) != 0)
		return 0;
	if (l.status != LP_IMAP_OK) {
		idle_fail(im, im->state == IDLE_LOGIN ?
		    "LOGIN refused" : "command refused");
		return -1;
	}
	switch (im->state) {
	case IDLE_LOGIN:
		idle_send(im, IDLE_CAPABILITY, "CAPABILITY%s%s", "", "");
		break;
	case IDLE_CAPABILITY:
		if (!im->has_idle) {
			idle_close(im);
			im->state = IDLE_GAVE_UP;
			im->cb(im->arg, LP_IDLE_UNSUPPORTED,
			    "no IDLE capability");
			return -1;
		}
		if ((mb = lp_imap_quote(im->conf.mailbox)) == NULL) {
			idle_fail(im, "mailbox name cannot be quoted");
			return -1;
		}
		idle_send(im, IDLE_EXAMINE, "EXAMINE %s%s", mb, "");
		free(mb);
		break;
	case IDLE_EXAMINE:
	case IDLE_DONE:
		idle_send(im, IDLE_START, "IDLE%s%s", "", "");
		break;
	default:
		break;
	}
	return 0;
}

static void
idle_read_cb(struct bufferevent *bev, void *arg)
{
	struct lp_idle	*im = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 n, have;

	for (;;) {
		if (im->skip > 0) {
			have = evbuffer_get_length(in);
			n = have < im->skip ? have : im->skip;
			evbuffer_drain(in, n);
			im->skip -= n;
			if (im->skip > 0)
				return;
		}
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > LP_IMAP_MAX_LINE)
				idle_fail(im, "response line too long");
			return;
		}
		if (idle_line(im, (uint8_t *)line, n) != 0) {
			free(line);
			return;
		}
		free(line);
	}
}

static void
idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lp_idle	*im = arg;
	unsigned long	 e;
	char		 why[256];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		im->state = IDLE_GREETING;
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "connection closed");
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "timeout");
	else if (im->conf.ssl != NULL &&
	    (e = bufferevent_get_openssl_error(im->bev)) != 0)
		snprintf(why, sizeof why, "TLS: %s",
		    ERR_reason_error_string(e));
	else
		snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	idle_fail(im, why);
}

static void
idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lp_idle	*im = arg;

	(void)fd;
	(void)what;
	if (im->state == IDLE_OFF)
		idle_connect(im);
	else if (im->state == IDLE_IDLING) {
		/* RFC 2177: leave IDLE before the server's 30-minute limit */
		evbuffer_add(bufferevent_get_output(im->bev), "DONE\r\n", 6);
		im->state = IDLE_DONE;
	}
}

/* fh_connect tried every address of the server: wrap the socket (in TLS
 * for imaps), or retry with backoff. */
static void
idle_connected_cb(int fd, const char *why, void *arg)
{
	struct lp_idle		*im = arg;
	struct bufferevent	*bev;
	SSL			*ssl;
	X509_VERIFY_PARAM	*vp;
	struct in6_addr		 a6;
	struct timeval		 tv = { 45 * 60, 0 };
	bool			 is_ip;

	im->conn = NULL;
	if (fd == -1) {
		idle_fail(im, why);
		return;
	}
	if (im->conf.ssl != NULL) {
		ssl = SSL_new(im->conf.ssl);
		is_ip = inet_pton(AF_INET, im->conf.host, &a6) == 1 ||
		    inet_pton(AF_INET6, im->conf.host, &a6) == 1;
		vp = SSL_get0_param(ssl);
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(vp, im->conf.host);
		else {
			SSL_set_tlsext_host_name(ssl, im->conf.host);
			X509_VERIFY_PARAM_set1_host(vp, im->conf.host, 0);
		}
		/* BEV_EVENT_CONNECTED comes after the handshake */
		bev = bufferevent_openssl_socket_new(im->base, fd, ssl,
		    BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	} else {
		bev = bufferevent_socket_new(im->base, fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		im->state = IDLE_GREETING;
	}
	if (bev == NULL) {
		close(fd);
		idle_fail(im, "cannot make a connection");
		return;
	}
	im->bev = bev;
	bufferevent_setcb(bev, idle_read_cb, NULL, idle_event_cb, im);
	/* the server talks at least every 30 minutes while we IDLE */
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
idle_connect(struct lp_idle *im)
{
	im->state = IDLE_CONNECT;
	im->has_idle = false;
	im->skip = 0;
	im->conn = fh_connect_start(im->gw, im->conf.host, im->conf.port,
	    LP_IDLE_CONNECT_MS, idle_connected_cb, im);
}

struct lp_idle *
lp_idle_create(struct fh_gateway *gw, const struct lp_idle_conf *conf,
    lp_idle_cb cb, void *arg)
{
	struct lp_idle	*im = fh_xcalloc(1, sizeof *im);

	im->gw = gw;
	im->base = fh_gateway_base(gw);
	im->conf = *conf;
	im->conf.host = fh_xstrdup(conf->host);
	im->conf.user = fh_xstrdup(conf->user);
	im->conf.password = fh_xstrdup(conf->password);
	im->conf.mailbox = fh_xstrdup(conf->mailbox);
	im->cb = cb;
	im->arg = arg;
	im->timer = evtimer_new(im->base, idle_timer_cb, im);
	fh_backoff_init(&im->backoff, 500, conf->backoff_max_ms);
	idle_connect(im);
	return im;
}

void
lp_idle_set_password(struct lp_idle *im, const char *password)
{
	fh_secret_free((char *)im->conf.password);
	im->conf.password = fh_xstrdup(password);
}

void
lp_idle_free(struct lp_idle *im)
{
	if (im == NULL)
		return;
	idle_close(im);
	event_free(im->timer);
	free((char *)im->conf.host);
	free((char *)im->conf.user);
	fh_secret_free((char *)im->conf.password);
	free((char *)im->conf.mailbox);
	free(im);
}
