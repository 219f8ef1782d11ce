/*
 * The seam between listeners (how bytes arrive: tcp, tls, ws, wss) and the
 * broker (what the bytes mean). A listener hands the broker a bufferevent
 * that carries plain MQTT bytes in both directions, whatever the wire.
 */
#ifndef MQTT_LISTENER_H
#define MQTT_LISTENER_H

#include <stdbool.h>

#include <jansson.h>

#include "gateway/conf.h"

struct bufferevent;
struct fh_gateway;
struct fh_section;
struct mqtt_listener;
struct transport_session;

/* The [listener NAME] keys (for the man page's schema). */
extern const struct fh_conf_var mqtt_listener_vars[];

struct mqtt_peer {
	const char	*listener;	/* the [listener NAME] */
	const char	*protocol;	/* "mqtt", "mqtts", "ws", "wss": a
					 * constant, kept as it is */
	const char	*addr;		/* "127.0.0.1:5555", "[::1]:5555" */
	const char	*cert_cn;	/* use_identity_as_username, else NULL */
	/* ws over TCP: its transport filter's session, which may park */
	struct transport_session *transport;
};

/* The broker owns bev from here on (BEV_OPT_CLOSE_ON_FREE). */
typedef void (*mqtt_accept_cb)(struct bufferevent *bev,
    const struct mqtt_peer *peer, void *arg);

/* Parse and validate one [listener NAME]; binds nothing yet. */
struct mqtt_listener	*mqtt_listener_create(struct fh_gateway *,
			    const struct fh_section *, mqtt_accept_cb,
			    void *arg, char **errstr);
int			 mqtt_listener_start(struct mqtt_listener *);
void			 mqtt_listener_stop(struct mqtt_listener *);
/* SIGHUP: certificates etc. for new connections; existing ones stay. */
int			 mqtt_listener_reload(struct mqtt_listener *,
			    const struct fh_section *, char **errstr);
void			 mqtt_listener_free(struct mqtt_listener *);
const char		*mqtt_listener_name(const struct mqtt_listener *);
/* "host:port" as configured, for the duplicate-address check. */
const char		*mqtt_listener_bind(const struct mqtt_listener *);
/* Counters of one listener (accepted, handshakes, HTTP, WebSocket...),
 * added to out; the broker puts them under "listeners": {NAME: {...}}. */
void			 mqtt_listener_stats(const struct mqtt_listener *,
			    json_t *out);

#endif
