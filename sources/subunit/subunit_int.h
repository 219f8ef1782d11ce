/*
 * The subunit source's insides, shared by its files and nothing else
 * (sources/subunit/subunit.h exports only the ops table):
 *   subunit.c        config, start/stop, the ops
 *   subunit_conn.c   the gearman worker connections
 *   subunit_job.c    a job: its argument (pure) and its life
 *   subunit_fetch.c  a job's fetch, inflate and complete path
 */
#ifndef FH_SUBUNIT_INT_H
#define FH_SUBUNIT_INT_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <zlib.h>

#include "config.h"
#include "gateway/backoff.h"
#include "gateway/conf.h"
#include "gateway/connect.h"
#include "gateway/curl.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sources/subunit/gearman_proto.h"
#include "sources/subunit/subunit.h"
#include "sources/subunit/subunit_job.h"
#include "sources/subunit/subunit_parse.h"

#define SUBUNIT_DEFAULT_PORT	4730
#define SUBUNIT_MAX_PACKET	((size_t)1 << 20)	/* job arguments: ~2 KiB */
#define SUBUNIT_MAX_HANDLE	255
#define SUBUNIT_MAX_FAILING	50	/* failing test ids per event */
#define SUBUNIT_MAX_CORRUPT	100	/* bad packets before giving up */
#define SUBUNIT_CONNECT_TIMEOUT	10	/* seconds */
#define SUBUNIT_BACKOFF_MIN	500	/* ms */
#define SUBUNIT_BACKOFF_MAX	30000

enum subunit_conn_state {
	SUBUNIT_C_DOWN,
	SUBUNIT_C_CONNECTING,
	SUBUNIT_C_IDLE,
	SUBUNIT_C_GRAB_WAIT,
	SUBUNIT_C_SLEEP,
	SUBUNIT_C_BUSY,
};

enum subunit_link {		/* what the log last said about a server */
	SUBUNIT_L_UNKNOWN,
	SUBUNIT_L_UP,
	SUBUNIT_L_DOWN,
};

struct subunit;
struct subunit_job;

struct subunit_server {
	char			*host;
	int			 port;
	char			*name;		/* host:port, for the log */
	int			 nup;		/* connections up */
	enum subunit_link	 logged;
};

struct subunit_conn {
	struct subunit		*su;
	struct subunit_server	*srv;
	struct bufferevent	*bev;
	struct fh_connect	*conn;		/* TCP on its way */
	struct event		*retry;
	struct fh_backoff	 backoff;
	enum subunit_conn_state	 state;
	bool			 proven;	/* a gearman packet came back */
	struct subunit_job	*job;
};

struct subunit_job {
	struct subunit		*su;
	struct subunit_conn	*conn;
	char			*handle;
	struct subunit_job_info	 info;
	CURL			*easy;
	char			*url;		/* being fetched */
	bool			 plain;		/* fetching source_url itself */
	int			 gz;		/* -1 unknown, 0 plain, 1 gzip */
	uint8_t			 sniff[2];
	size_t			 nsniff;
	z_stream		 z;
	bool			 z_init;
	bool			 z_end;		/* a gzip member ended */
	struct subunit_parser	*parser;
	uint64_t		 raw;		/* bytes received */
	uint64_t		 stream;	/* decoded bytes */
	char			*error;		/* why the fetch was stopped */
	const char		*counter;	/* stat bumped on failure */
	struct event		*retry;		/* no curl handle: later */
	struct fh_backoff	 backoff;
};

struct subunit_stats {
	uint64_t	jobs;		/* assigned to us */
	uint64_t	completed;	/* WORK_COMPLETE sent */
	uint64_t	failed;		/* WORK_FAIL sent */
	uint64_t	invalid;	/* job argument unusable */
	uint64_t	abandoned;	/* connection lost mid-job */
	uint64_t	aborted_builds;
	uint64_t	fetch_errors;
	uint64_t	not_found;
	uint64_t	too_large;
	uint64_t	corrupt;	/* streams with bad packets or gzip */
	uint64_t	emitted;
	uint64_t	refused;	/* events the bus refused */
	uint64_t	bytes;		/* decoded stream bytes */
	uint64_t	packets;
	uint64_t	connects;
	uint64_t	disconnects;
	uint64_t	protocol_errors;
};

struct subunit {
	struct fh_gateway	*gw;
	char			*instance;

	/* config */
	char			*gearman;
	char			*function;
	char			*worker_id;
	int			 concurrency;
	long			 fetch_timeout;	/* ms */
	size_t			 max_stream_size;
	char			*ca_file;
	char			*topic;
	int			 qos;
	bool			 retain;

	char			*host;		/* short hostname */
	struct subunit_server	*servers;
	size_t			 nservers;
	struct subunit_conn	*conns;
	size_t			 nconns;
	size_t			 next_kick;	/* fairness across servers */

	struct event_base	*base;
	struct fh_curl		*curl;		/* the gateway's */
	struct event		*kick;
	bool			 running;
	int			 busy;		/* GRAB_WAIT + BUSY conns */
	struct subunit_stats	 st;
};


/* subunit.c */
void	subunit_kick(struct subunit *su);

/* subunit_conn.c */
void	subunit_conn_connect(struct subunit_conn *c);
void	subunit_conn_send(struct subunit_conn *c, uint32_t type,
    const struct gearman_arg *args, size_t n);
void	subunit_conn_try_grab(struct subunit_conn *c);

/* subunit_job.c */
void	subunit_job_finish(struct subunit_job *j, const char *status,
    const char *error, json_t *summary);
void	subunit_job_free(struct subunit_job *j);
void	subunit_job_start(struct subunit_conn *c,
    const struct gearman_arg *handle, const struct gearman_arg *data);
size_t	subunit_job_stop(struct subunit_job *j, const char *counter,
    char *error);

/* subunit_fetch.c */
void	subunit_fetch_start(struct subunit_job *j);

#endif
