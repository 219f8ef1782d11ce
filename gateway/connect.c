#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "gateway/connect.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"

/* The argument of the DNS lookup: a cancelled lookup may still call back
 * (evdns does, with EVUTIL_EAI_CANCEL), so it outlives the attempt. */
struct connect_lookup {
	struct fh_connect	*c;	/* NULL once cancelled */
};

struct fh_connect {
	struct event_base	*base;
	struct evdns_base	*dns;
	char			*host;
	char			 port[16];
	long			 timeout_ms;
	fh_connect_cb		 cb;
	void			*arg;
	struct event		*ev;	/* the start, then each connect */
	struct connect_lookup	*lookup;
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo	*addrs, *next;
	int			 result;	/* of the lookup */
	int			 fd;
	int			 err;	/* of the last address tried */
};

static void	connect_next(struct fh_connect *);

static void
connect_free(struct fh_connect *c)
{
	if (c->fd != -1)
		close(c->fd);
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->addrs != NULL)
		evutil_freeaddrinfo(c->addrs);
	free(c->host);
	free(c);
}

/* The one way out: hand over fd (or -1 and why) and go. */
static void
connect_done(struct fh_connect *c, int fd, const char *why)
{
	fh_connect_cb	 cb = c->cb;
	void		*arg = c->arg;

	c->fd = -1;	/* the caller's now, or closed */
	connect_free(c);
	cb(fd, why, arg);
}

/* Only the error: every caller's line already says what it was
 * connecting to ("cannot connect to HOST:PORT: ..."). */
static void
connect_fail(struct fh_connect *c)
{
	char	why[256];

	snprintf(why, sizeof why, "%s", strerror(c->err));
	connect_done(c, -1, why);
}

static void
connect_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_connect	*c = arg;
	int			 err = 0;
	socklen_t		 len = sizeof err;

	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		connect_done(c, (int)fd, NULL);
		return;
	}
	c->err = err;
	close(c->fd);
	c->fd = -1;
	connect_next(c);
}

/* Try the next address; each gets timeout_ms to connect. */
static void
connect_next(struct fh_connect *c)
{
	struct evutil_addrinfo	*ai;
	struct timeval		 tv;
	int			 fd;

	tv.tv_sec = c->timeout_ms / 1000;
	tv.tv_usec = (c->timeout_ms % 1000) * 1000;
	while ((ai = c->next) != NULL) {
		c->next = ai->ai_next;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			c->err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			c->err = errno;
			close(fd);
			continue;
		}
		/* Even a connect that is done at once is reported from the
		 * loop, through the write event. */
		c->fd = fd;
		if (c->ev != NULL)
			event_free(c->ev);
		c->ev = event_new(c->base, fd, EV_WRITE, connect_wait_cb, c);
		event_add(c->ev, c->timeout_ms > 0 ? &tv : NULL);
		return;
	}
	connect_fail(c);
}

/* The lookup's answer, acted on from an event of its own: the lookup may
 * answer from inside evdns_getaddrinfo(). */
static void
connect_looked_up_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_connect	*c = arg;
	char			 why[512];

	(void)fd;
	(void)what;
	if (c->result != 0) {
		snprintf(why, sizeof why, "cannot resolve %s: %s", c->host,
		    evutil_gai_strerror(c->result));
		connect_done(c, -1, why);
		return;
	}
	connect_next(c);
}

static void
connect_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct connect_lookup	*l = arg;
	struct fh_connect	*c = l->c;

	free(l);
	if (c == NULL) {	/* cancelled */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	c->lookup = NULL;
	c->req = NULL;
	if (result == 0 && res == NULL)
		result = EVUTIL_EAI_NONAME;
	if (result != 0 && res != NULL) {
		evutil_freeaddrinfo(res);
		res = NULL;
	}
	c->result = result;
	c->addrs = c->next = res;
	c->err = ECONNREFUSED;
	event_free(c->ev);
	c->ev = evtimer_new(c->base, connect_looked_up_cb, c);
	event_active(c->ev, EV_TIMEOUT, 0);
}

static void
connect_start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_connect		*c = arg;
	struct connect_lookup		*l;
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo		 hints;

	(void)fd;
	(void)what;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	l = fh_xcalloc(1, sizeof *l);
	l->c = c;
	c->lookup = l;
	/* The callback may run before this returns (numeric hosts). */
	req = evdns_getaddrinfo(c->dns, c->host, c->port, &hints,
	    connect_resolved_cb, l);
	if (c->lookup == l)
		c->req = req;
}

struct fh_connect *
fh_connect_start(struct fh_gateway *gw, const char *host, int port,
    long timeout_ms, fh_connect_cb cb, void *arg)
{
	struct fh_connect	*c = fh_xcalloc(1, sizeof *c);

	c->base = fh_gateway_base(gw);
	c->dns = fh_gateway_dns(gw);
	c->host = fh_xstrdup(host);
	snprintf(c->port, sizeof c->port, "%d", port);
	c->timeout_ms = timeout_ms;
	c->cb = cb;
	c->arg = arg;
	c->fd = -1;
	c->ev = evtimer_new(c->base, connect_start_cb, c);
	event_active(c->ev, EV_TIMEOUT, 0);
	return c;
}

void
fh_connect_cancel(struct fh_connect *c)
{
	if (c == NULL)
		return;
	if (c->lookup != NULL) {
		c->lookup->c = NULL;
		if (c->req != NULL)
			evdns_getaddrinfo_cancel(c->req);
	}
	connect_free(c);
}
