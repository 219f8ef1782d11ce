/*
 * The event log's table in the shared state file (gateway/state.h): one
 * row per event, keyed by the log's own seq (ascending, never reused,
 * across restarts), an index on time. Appends are staged in the turn's
 * batch, so they commit in the same transaction as the broker's state.
 */
#ifndef LOG_STORE_H
#define LOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct fh_state;
struct store;

#define STORE_ROW_OVERHEAD	32	/* bytes counted per row beyond its
					 * topic, payload and properties */

struct store_row {
	uint64_t	 seq;		/* the log's */
	uint64_t	 bus_seq;	/* the bus's; restarts at 1 */
	int64_t		 time_us;
	const char	*topic;
	size_t		 topic_len;
	const uint8_t	*payload;
	size_t		 len;
	const uint8_t	*props;		/* MQTT 5 properties, or NULL */
	size_t		 props_len;
	uint8_t		 qos;
	bool		 retain;
	bool		 json;		/* payload known to be JSON */
};

struct store	*store_open(struct fh_state *, char **errstr);
/* Finalize the statements (before fh_state_close). NULL-safe. */
void		 store_close(struct store *);
/* Stage one row; r->seq is set. 0 or -1. */
int		 store_append(struct store *, struct store_row *r);
/* The last seq given out (0: none yet). */
uint64_t	 store_head(const struct store *);
uint64_t	 store_rows(const struct store *);
uint64_t	 store_bytes(const struct store *);
/* Drop the oldest rows while older than min_time_us or while the log is
 * over max_bytes; at most max_rows per call. Returns rows dropped, -1. */
long		 store_trim(struct store *, int64_t min_time_us,
		    uint64_t max_bytes, size_t max_rows);
/* The seq just before the first event at or after t (a cursor for
 * store_read), or the head when none is. */
uint64_t	 store_seq_before_time(struct store *, int64_t t);
/*
 * Rows with seq > after, ascending, before the first row at or after
 * until_us by the time index (INT64_MAX: no bound; the caller checks the
 * times of what it gets), at most max_rows read. cb returns 0 to go on, 1 to stop. The
 * row's pointers live during the call. *last gets the last seq read
 * (after when none). Returns the number of rows read, -1 on error.
 */
long		 store_read(struct store *, uint64_t after, int64_t until_us,
		    size_t max_rows,
		    int (*cb)(const struct store_row *, void *), void *arg,
		    uint64_t *last);
void		 store_stats(const struct store *, json_t *out);

#endif
