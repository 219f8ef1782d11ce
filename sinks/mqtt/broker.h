/*
 * The broker: connections, sessions, delivery. It sees bytes through the
 * bufferevents that listeners hand it (struct mqtt_peer), events through
 * mqtt_broker_publish() (the sink's publish op), and sends its clients'
 * PUBLISHes to the bus with fh_gateway_emit(): one path for everything.
 */
#ifndef MQTT_BROKER_H
#define MQTT_BROKER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct bufferevent;
struct fh_event;
struct fh_gateway;
struct mqtt_auth;
struct mqtt_broker;
struct mqtt_peer;

struct mqtt_broker_conf {
	bool	 allow_anonymous;
	bool	 anonymous_publish;
	char	*password_file;
	char	*acl_file;
	int	 max_connections;	/* 0: unlimited */
	size_t	 max_packet_size;
	bool	 announce_max_packet;	/* set in the file: 5.0 CONNACK
					 * says it */
	int	 max_queued_messages;
	size_t	 max_queued_bytes;	/* per session; 0: unlimited */
	size_t	 max_memory;		/* whole broker; 0: unlimited */
	int	 max_inflight_messages;
	bool	 retain;
	long	 sys_interval;		/* ms; 0: off */
	size_t	 max_output_buffer;	/* QoS 0 dropped above it */
	size_t	 max_output_buffer_hard; /* client disconnected above it */
	long	 connect_timeout;	/* ms until CONNECT must have come */
	long	 session_expiry;	/* ms an offline persistent session
					 * is kept; 0: forever */
	/* Mosquitto's names */
	int	 max_keepalive;		/* s; 0: any */
	size_t	 max_inflight_bytes;	/* per session; 0: unlimited */
	bool	 allow_zero_length_clientid;
	bool	 upgrade_outgoing_qos;
	int	 max_topic_alias;	/* a 5.0 client's aliases to us */
};

/* conf is copied (not its strings: the broker uses only the numbers). */
struct mqtt_broker	*mqtt_broker_create(struct fh_gateway *,
			    const struct mqtt_broker_conf *);
int			 mqtt_broker_start(struct mqtt_broker *);
/* Close every connection; sessions and retained messages stay. */
void			 mqtt_broker_stop(struct mqtt_broker *);
void			 mqtt_broker_free(struct mqtt_broker *);

/* The broker takes ownership of auth (the old one is freed). */
void			 mqtt_broker_set_auth(struct mqtt_broker *,
			    struct mqtt_auth *);

/* Counters of a listener from the start, so /metrics shows its zeros. */
void			 mqtt_broker_add_listener(struct mqtt_broker *,
			    const char *);
/* A listener's accept callback (mqtt_accept_cb); arg is the broker. */
void			 mqtt_broker_accept(struct bufferevent *,
			    const struct mqtt_peer *, void *arg);

/* Deliver a bus event to every matching subscriber, keep it if retained. */
int			 mqtt_broker_publish(struct mqtt_broker *,
			    struct fh_event *);

void			 mqtt_broker_stats(struct mqtt_broker *, json_t *out);

#endif
