/*
 * Inside the event log sink: the sink (log.c), its readers (reader.c:
 * a cursor over the log that pages through the backlog as its consumer
 * can take it, then follows live events), the HTTP routes (events.c) and
 * the MQTT $replay provider (replay.c).
 */
#ifndef LOG_INT_H
#define LOG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

struct event;
struct evbuffer;
struct fh_gateway;
struct store;
struct store_row;

#define LOG_PAGE_ROWS		512	/* rows per backlog step */
#define LOG_FILTERS_MAX		32	/* topic= per request */

struct log_conf {
	bool	 enabled;
	long	 retention;		/* ms */
	size_t	 max_size;
	char	*topics;
};

struct log_reader;

struct log_reader_ops {
	/* Take one event; 0 taken, 1 full (pause, the row is retried),
	 * 2 passed over (not counted), -1 the consumer is gone or dropped
	 * (the reader is freed). */
	int	(*row)(struct log_reader *, const struct store_row *);
	/* Is the consumer full now (pause before reading more)? A consumer
	 * that says so calls log_pump_schedule() once it can take more:
	 * nothing polls it. */
	bool	(*busy)(struct log_reader *);
	/* The backlog is done (caught up with the head). Return false to
	 * end the reader (it is freed), true to follow live events. */
	bool	(*caught_up)(struct log_reader *);
	/* The log stops: let the consumer go (the reader is freed after). */
	void	(*cancel)(struct log_reader *);
};

struct log_reader {
	TAILQ_ENTRY(log_reader)		 entry;
	struct log			*log;
	const struct log_reader_ops	*ops;
	void				*arg;
	char				*filters[LOG_FILTERS_MAX];
	size_t				 nfilters;
	char				*user;
	uint64_t			 after;	/* the last seq handled */
	int64_t				 since_us;	/* INT64_MIN: none */
	int64_t				 until_us;	/* INT64_MAX: none */
	uint64_t			 sent;
	bool				 live;
	bool				 dead;
	bool				 own_acl;	/* the consumer checks
							 * (the broker) */
};

struct log {
	struct fh_gateway		*gw;
	struct log_conf			 conf;
	char				**filters;	/* [log] topics */
	size_t				 nfilters;
	size_t				 max_size;	/* effective */
	struct store			*store;
	struct event			*trim_ev;
	struct event			*trim_more_ev;	/* behind: again */
	struct event			*pump_ev;
	struct event			*beat_ev;
	TAILQ_HEAD(, log_reader)	 readers;
	size_t				 nreaders;
	bool				 running;
	/* counters */
	uint64_t			 skipped;	/* not in topics */
	uint64_t			 failed;
	uint64_t			 http_requests, http_bad;
	uint64_t			 streams, streams_dropped;
	uint64_t			 replays, replays_refused;
	uint64_t			 served;	/* events handed out */
};

/* reader.c */
struct log_reader *log_reader_new(struct log *, const struct log_reader_ops *,
		    void *arg);
/* Copies. false when full. */
bool		 log_reader_add_filter(struct log_reader *, const char *);
void		 log_reader_start(struct log_reader *);
/* Free now (from outside the reader's callbacks). */
void		 log_reader_free(struct log_reader *);
/* Free one that was never started. NULL-safe. */
void		 log_reader_discard(struct log_reader *);
/* Does the reader want this row (filters, $-rule, ACL, time)? */
bool		 log_reader_wants(struct log_reader *,
		    const struct store_row *);
/* Run the backlog of every paused reader (soon, from the loop). */
void		 log_pump_schedule(struct log *);
void		 log_pump_cb(int, short, void *);
/* A new row: every live reader that wants it gets it. */
void		 log_readers_live(struct log *, const struct store_row *);
void		 log_readers_free_all(struct log *);

/* events.c */
void		 log_routes_register(struct log *);
void		 log_routes_unregister(struct log *);
/* The JSON text of an event, appended to out (one line, no newline). */
void		 log_event_json(struct evbuffer *out, const struct store_row *);
void		 log_heartbeat_cb(int, short, void *);

/* replay.c */
void		 log_replay_register(struct log *);
void		 log_replay_unregister(struct log *);

#endif
