/* The event log's SQLite table, staged in the shared state batch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/log/store.h"

static const struct fh_state_migration store_steps[] = {
	/* 0 -> 1. flags: bit 0 retain, bit 1 the payload is JSON. The
	 * high-water mark keeps seqs unique when retention empties the
	 * table. */
	{ "CREATE TABLE log_event ("
	  " seq INTEGER PRIMARY KEY,"
	  " time INTEGER NOT NULL,"
	  " topic TEXT NOT NULL,"
	  " qos INTEGER NOT NULL,"
	  " flags INTEGER NOT NULL,"
	  " payload BLOB NOT NULL,"
	  " props BLOB,"
	  " bus_seq INTEGER NOT NULL);"
	  "CREATE INDEX log_event_time ON log_event (time);"
	  "CREATE TABLE log_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
	  NULL },
};

static void	store_on_fail(void *);

static const struct fh_state_module store_schema = {
	.name = "log",
	.migrations = store_steps,
	.nmigrations = sizeof store_steps / sizeof store_steps[0],
	.on_fail = store_on_fail,
};

#define STORE_FLAG_RETAIN	0x1
#define STORE_FLAG_JSON		0x2

struct store {
	struct fh_state	*st;
	sqlite3_stmt	*ins, *read, *oldest, *del, *bytime, *hw;
	uint64_t	 head;
	uint64_t	 rows, bytes;
	bool		 resync;	/* a batch failed: recount */
	uint64_t	 appended, dropped, failed;
};

static int
store_count(struct store *s)
{
	sqlite3_stmt	*q;
	char		*err = NULL;
	int		 rc;

	q = fh_state_prepare(s->st, "SELECT count(*), ifnull(sum(length("
	    "topic) + length(payload) + ifnull(length(props), 0)), 0), "
	    "ifnull(max(seq), 0), (SELECT ifnull(max(v), 0) FROM log_meta "
	    "WHERE k = 'hw') FROM log_event", &err);
	if (q == NULL) {
		fh_log(LOG_ERR, "log: %s", err);
		free(err);
		return -1;
	}
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		uint64_t max = (uint64_t)sqlite3_column_int64(q, 2);
		uint64_t hw = (uint64_t)sqlite3_column_int64(q, 3);

		s->rows = (uint64_t)sqlite3_column_int64(q, 0);
		s->bytes = (uint64_t)sqlite3_column_int64(q, 1) +
		    s->rows * STORE_ROW_OVERHEAD;
		if (max > s->head)
			s->head = max;
		if (hw > s->head)
			s->head = hw;
	}
	sqlite3_finalize(q);
	s->resync = false;
	return rc == SQLITE_ROW ? 0 : -1;
}

static void
store_on_fail(void *arg)
{
	struct store	*s = arg;

	/* The seqs given out stay given (never reused); the counts are
	 * redone from the table once the rollback is over. */
	s->resync = true;
	s->failed++;
}

struct store *
store_open(struct fh_state *st, char **errstr)
{
	struct store	*s = fh_xcalloc(1, sizeof *s);

	s->st = st;
	if (fh_state_register(st, &store_schema, s, errstr) != 0)
		goto fail;
	if ((s->ins = fh_state_prepare(st, "INSERT INTO log_event (seq, time, "
	    "topic, qos, flags, payload, props, bus_seq) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?)", errstr)) == NULL ||
	    (s->read = fh_state_prepare(st, "SELECT seq, time, topic, qos, "
	    "flags, payload, props, bus_seq FROM log_event WHERE seq > ? AND "
	    "seq < ? ORDER BY seq LIMIT ?", errstr)) == NULL ||
	    (s->oldest = fh_state_prepare(st, "SELECT seq, time, length(topic) "
	    "+ length(payload) + ifnull(length(props), 0) FROM log_event "
	    "ORDER BY seq LIMIT ?", errstr)) == NULL ||
	    (s->del = fh_state_prepare(st, "DELETE FROM log_event WHERE "
	    "seq <= ?", errstr)) == NULL ||
	    (s->bytime = fh_state_prepare(st, "SELECT seq FROM log_event "
	    "WHERE time >= ? ORDER BY time LIMIT 1", errstr)) == NULL ||
	    (s->hw = fh_state_prepare(st, "INSERT OR REPLACE INTO log_meta "
	    "(k, v) VALUES ('hw', ?)", errstr)) == NULL)
		goto fail;
	if (store_count(s) != 0) {
		*errstr = fh_xstrdup("cannot read the log table");
		goto fail;
	}
	return s;
fail:
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->ins);
	sqlite3_finalize(s->read);
	sqlite3_finalize(s->oldest);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->bytime);
	sqlite3_finalize(s->hw);
	fh_state_unregister(s->st, "log");
	free(s);
}

int
store_append(struct store *s, struct store_row *r)
{
	sqlite3_stmt	*q = s->ins;
	int		 rc;

	r->seq = ++s->head;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)r->seq);
	sqlite3_bind_int64(q, 2, r->time_us);
	sqlite3_bind_text(q, 3, r->topic, (int)r->topic_len, SQLITE_STATIC);
	sqlite3_bind_int(q, 4, r->qos);
	sqlite3_bind_int(q, 5, (r->retain ? STORE_FLAG_RETAIN : 0) |
	    (r->json ? STORE_FLAG_JSON : 0));
	rc = fh_state_bind_blob(q, 6, r->payload, r->len);
	if (rc == SQLITE_OK && r->props != NULL)
		rc = sqlite3_bind_blob(q, 7, r->props, (int)r->props_len,
		    SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, (sqlite3_int64)r->bus_seq);
	if (rc != SQLITE_OK) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		fh_state_fail(s->st, "log_append", rc);
		return -1;
	}
	if (fh_state_write(s->st, q, "log_append") != 0)
		return -1;
	s->appended++;
	s->rows++;
	s->bytes += r->topic_len + r->len + r->props_len + STORE_ROW_OVERHEAD;
	return 0;
}

uint64_t
store_head(const struct store *s)
{
	return s->head;
}

uint64_t
store_rows(const struct store *s)
{
	return s->rows;
}

uint64_t
store_bytes(const struct store *s)
{
	return s->bytes;
}

long
store_trim(struct store *s, int64_t min_time_us, uint64_t max_bytes,
    size_t max_rows)
{
	sqlite3_stmt	*q = s->oldest;
	uint64_t	 cut = 0, bytes = s->bytes, rows = s->rows, n = 0;
	int		 rc;

	if (s->resync && store_count(s) != 0)
		return -1;
	bytes = s->bytes;
	rows = s->rows;
	if (rows == 0)
		return 0;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)max_rows);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(q, 1);

		if (t >= min_time_us && bytes <= max_bytes)
			break;
		cut = (uint64_t)sqlite3_column_int64(q, 0);
		bytes -= (uint64_t)sqlite3_column_int64(q, 2) +
		    STORE_ROW_OVERHEAD;
		n++;
	}
	if (fh_state_read_end(s->st, q, rc, "log_trim") != 0 &&
	    rc != SQLITE_ROW)
		return -1;
	if (n == 0)
		return 0;
	/* Keep the high-water mark before the newest row may go. */
	sqlite3_bind_int64(s->hw, 1, (sqlite3_int64)s->head);
	if (fh_state_write(s->st, s->hw, "log_hw") != 0)
		return -1;
	sqlite3_bind_int64(s->del, 1, (sqlite3_int64)cut);
	if (fh_state_write(s->st, s->del, "log_trim") != 0)
		return -1;
	s->rows = rows - n;
	s->bytes = bytes;
	s->dropped += n;
	return (long)n;
}

uint64_t
store_seq_before_time(struct store *s, int64_t t)
{
	sqlite3_stmt	*q = s->bytime;
	uint64_t	 seq = s->head;
	int		 rc;

	sqlite3_bind_int64(q, 1, t);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		seq = (uint64_t)sqlite3_column_int64(q, 0) - 1;
	fh_state_read_end(s->st, q, rc == SQLITE_ROW ? SQLITE_DONE : rc,
	    "log_bytime");
	return seq;
}

long
store_read(struct store *s, uint64_t after, int64_t until_us,
    size_t max_rows, int (*cb)(const struct store_row *, void *), void *arg,
    uint64_t *last)
{
	sqlite3_stmt		*q = s->read;
	struct store_row	 r;
	uint64_t		 hi = INT64_MAX;
	long			 n = 0;
	int			 rc, flags;

	*last = after;
	/* until= becomes a seq bound through the time index, so that a
	 * range that ends early is not read to the end of the table; rows
	 * inside it are still checked by time (log_reader_wants). */
	if (until_us != INT64_MAX)
		hi = store_seq_before_time(s, until_us) + 1;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)hi);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)max_rows);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&r, 0, sizeof r);
		r.seq = (uint64_t)sqlite3_column_int64(q, 0);
		r.time_us = sqlite3_column_int64(q, 1);
		r.topic = (const char *)sqlite3_column_text(q, 2);
		r.topic_len = (size_t)sqlite3_column_bytes(q, 2);
		r.qos = (uint8_t)sqlite3_column_int(q, 3);
		flags = sqlite3_column_int(q, 4);
		r.retain = (flags & STORE_FLAG_RETAIN) != 0;
		r.json = (flags & STORE_FLAG_JSON) != 0;
		r.payload = sqlite3_column_blob(q, 5);
		r.len = (size_t)sqlite3_column_bytes(q, 5);
		r.props = sqlite3_column_blob(q, 6);
		r.props_len = (size_t)sqlite3_column_bytes(q, 6);
		r.bus_seq = (uint64_t)sqlite3_column_int64(q, 7);
		if (r.payload == NULL)
			r.payload = (const uint8_t *)"";
		*last = r.seq;
		n++;
		if (cb(&r, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (fh_state_read_end(s->st, q, rc, "log_read") != 0)
		return -1;
	return n;
}

void
store_stats(const struct store *s, json_t *out)
{
	json_object_set_new(out, "rows", json_integer((json_int_t)s->rows));
	json_object_set_new(out, "bytes", json_integer((json_int_t)s->bytes));
	json_object_set_new(out, "head_seq", json_integer(
	    (json_int_t)s->head));
	json_object_set_new(out, "appended", json_integer(
	    (json_int_t)s->appended));
	json_object_set_new(out, "dropped_retention", json_integer(
	    (json_int_t)s->dropped));
	json_object_set_new(out, "failed_batches", json_integer(
	    (json_int_t)s->failed));
}
