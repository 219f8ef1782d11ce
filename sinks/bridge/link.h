/*
 * One bridge: an MQTT client to a remote broker, on bufferevents, with its
 * out-queue. bridge.c parses [bridge NAME] into a link_conf and fans bus
 * events out to the links; everything about the wire, the queue and the
 * durable rows is here.
 */
#ifndef BRIDGE_LINK_H
#define BRIDGE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct fh_event;
struct fh_gateway;
struct fh_state;
struct link;
struct link_db;
struct ssl_ctx_st;

#define LINK_OUT	0x01
#define LINK_IN		0x02

enum link_proto {
	LINK_MQTT,
	LINK_MQTTS,
	LINK_WS,
	LINK_WSS,
};

/* One "topic = PATTERN DIR QOS LOCAL_PREFIX REMOTE_PREFIX" line. */
struct link_topic {
	int	 dir;		/* LINK_OUT | LINK_IN */
	int	 qos;
	char	*local_prefix;
	char	*remote_prefix;
	char	*local_filter;	/* local_prefix + pattern */
	char	*remote_filter;	/* remote_prefix + pattern */
};

struct link_addr {
	char	*host;
	int	 port;
};

struct link_conf {
	char			*name;
	struct link_addr	*addrs;
	size_t			 naddrs;
	enum link_proto		 proto;
	int			 version;	/* 4 (3.1.1) or 5 */
	char			*client_id;
	char			*username;	/* NULL: none */
	char			*password;	/* NULL: none */
	char			*ca_file;	/* "" for the system's */
	char			*cert_file;
	char			*key_file;
	bool			 tls_verify;
	char			*ws_path;
	struct link_topic	*topics;
	size_t			 ntopics;
	bool			 clean_session;
	long			 keepalive_ms;
	bool			 notifications;
	char			*notification_topic;
	size_t			 max_queued;	/* bytes; 0: no queue */
	long			 restart_min_ms;
	long			 restart_max_ms;
	long			 connect_timeout_ms;
	int			 max_inflight;
	size_t			 max_packet_size;
	bool			 try_private;
	bool			 round_robin;	/* false: back to the first
						 * address when it answers */
};

void		 link_conf_free(struct link_conf *);	/* the contents */

/* The durable out-queue of every link (one table), or NULL in memory. */
struct link_db	*link_db_open(struct fh_state *, char **errstr);
void		 link_db_close(struct link_db *);

/* The TLS client context of an mqtts/wss link: every file is read now.
 * NULL with *key (the config key at fault) and *errstr on error. */
struct ssl_ctx_st *link_tls_ctx(const struct link_conf *, const char **key,
		    char **errstr);

/* conf is moved into the link (the caller's copy is zeroed); so is ctx
 * (NULL for mqtt and ws). */
struct link	*link_create(struct fh_gateway *, struct link_conf *,
		    struct ssl_ctx_st *ctx);
/* db NULL: the queue is in memory only. */
/* SIGHUP: take the credentials and TLS context of c (ctx is moved, NULL
 * for mqtt/ws) for the next connection. */
void		 link_reload(struct link *, struct link_conf *c,
		    struct ssl_ctx_st *ctx);
int		 link_start(struct link *, struct link_db *, char **errstr);
void		 link_stop(struct link *);
void		 link_free(struct link *);
const char	*link_name(const struct link *);
/* A bus event: queued for the remote when a topic line matches it. */
void		 link_publish(struct link *, struct fh_event *);
void		 link_stats(struct link *, json_t *out);

#endif
