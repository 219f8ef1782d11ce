#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/listener.h"

struct listener_conf {
	char	*protocol;
	char	*bind;
};

static const struct fh_conf_var listener_vars[] = {
	FH_CONF_STR("protocol", struct listener_conf, protocol, "mqtt"),
	FH_CONF_STR_REQ("bind", struct listener_conf, bind),
	FH_CONF_END
};

struct mqtt_listener {
	struct fh_gateway	*gw;
	char			*name;
	struct listener_conf	 conf;
	char			*host;
	int			 port;
	struct evconnlistener	*lev;
	mqtt_accept_cb		 accept_cb;
	void			*arg;
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

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct mqtt_listener	*l = arg;
	struct bufferevent	*bev;
	struct mqtt_peer	 peer;
	char			 addr[INET6_ADDRSTRLEN + 8];
	int			 one = 1;

	(void)lev;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	listener_format_addr(sa, addr, sizeof addr);
	bev = bufferevent_socket_new(fh_gateway_base(l->gw), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	peer.listener = l->name;
	peer.protocol = l->conf.protocol;
	peer.addr = addr;
	peer.cert_cn = NULL;
	l->accept_cb(bev, &peer, l->arg);
}

struct mqtt_listener *
mqtt_listener_create(struct fh_gateway *gw, const struct fh_section *sec,
    mqtt_accept_cb cb, void *arg, char **errstr)
{
	struct mqtt_listener	*l = fh_xcalloc(1, sizeof *l);
	char			*where;

	l->gw = gw;
	l->name = fh_xstrdup(fh_section_name(sec));
	l->accept_cb = cb;
	l->arg = arg;
	if (fh_conf_apply(sec, listener_vars, &l->conf, errstr) != 0)
		goto fail;
	if (strcmp(l->conf.protocol, "mqtt") != 0) {
		where = fh_section_where(sec, "protocol");
		*errstr = fh_xasprintf("%s: unsupported protocol '%s'", where,
		    l->conf.protocol);
		free(where);
		goto fail;
	}
	if (fh_parse_hostport(l->conf.bind, &l->host, &l->port) != 0) {
		where = fh_section_where(sec, "bind");
		*errstr = fh_xasprintf("%s: bad bind address '%s': expected "
		    "host:port or [v6]:port", where, l->conf.bind);
		free(where);
		goto fail;
	}
	return l;
fail:
	mqtt_listener_free(l);
	return NULL;
}

int
mqtt_listener_start(struct mqtt_listener *l)
{
	struct sockaddr_storage	ss;
	int			sslen = sizeof ss;
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
	l->lev = evconnlistener_new_bind(fh_gateway_base(l->gw),
	    listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, sslen);
	if (l->lev == NULL) {
		fh_log(LOG_ERR, "listener %s: cannot listen on %s: %s",
		    l->name, addr, strerror(errno));
		return -1;
	}
	fh_log(LOG_INFO, "listener %s: %s on %s", l->name, l->conf.protocol,
	    addr);
	return 0;
}

void
mqtt_listener_stop(struct mqtt_listener *l)
{
	if (l->lev != NULL) {
		evconnlistener_free(l->lev);
		l->lev = NULL;
	}
}

int
mqtt_listener_reload(struct mqtt_listener *l, const struct fh_section *sec,
    char **errstr)
{
	(void)l;
	(void)sec;
	(void)errstr;
	return 0;
}

void
mqtt_listener_free(struct mqtt_listener *l)
{
	if (l == NULL)
		return;
	mqtt_listener_stop(l);
	fh_conf_clear(listener_vars, &l->conf);
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
