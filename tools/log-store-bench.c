/*
 * log-store-bench: what one appended event costs in a segment file and in
 * the event log's SQLite table, the measurement behind sinks/log's choice
 * (docs/log.md). Not built by make:
 *
 *   cc -O2 -o log-store-bench tools/log-store-bench.c -lsqlite3
 *   ./log-store-bench [DIR [EVENTS [BATCH]]]      (/tmp, 1000000, 64)
 *
 * Both write EVENTS events (a 35-byte topic, a 256-byte payload) in
 * batches of BATCH, as the daemon does per loop turn: the segment file
 * with one write() of length-prefixed, checksummed records per batch; the
 * table (the log's schema, WAL, synchronous=NORMAL) with one transaction
 * per batch. Prints CPU per event and bytes per event on disk.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#define BENCH_TOPIC	"gerrit/openstack/nova/comment-added"
#define BENCH_SCHEMA \
	"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" \
	"CREATE TABLE log_event (seq INTEGER PRIMARY KEY," \
	" time INTEGER NOT NULL, topic TEXT NOT NULL, qos INTEGER NOT NULL," \
	" flags INTEGER NOT NULL, payload BLOB NOT NULL, props BLOB," \
	" bus_seq INTEGER NOT NULL);" \
	"CREATE INDEX log_event_time ON log_event (time);"

static double
bench_cpu(void)
{
	struct rusage	r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_stime.tv_sec +
	    (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static void
bench_put(char *buf, size_t *o, const void *p, size_t len)
{
	memcpy(buf + *o, p, len);
	*o += len;
}

static int
bench_segment(const char *path, long n, long batch, const char *payload,
    uint32_t plen)
{
	uint32_t	 tlen = sizeof BENCH_TOPIC - 1, len, sum;
	uint64_t	 seq, t;
	size_t		 o = 0, k;
	char		*buf = malloc((size_t)batch * (plen + tlen + 64));
	struct stat	 st;
	double		 c0;
	long		 i;
	int		 fd;

	if ((fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND,
	    0600)) < 0 || buf == NULL)
		return -1;
	c0 = bench_cpu();
	for (i = 0; i < n; i++) {
		seq = (uint64_t)i + 1;
		t = UINT64_C(1796256000000000) + (uint64_t)i;
		len = 8 + 8 + 4 + 4 + tlen + plen + 4;
		bench_put(buf, &o, &len, 4);
		bench_put(buf, &o, &seq, 8);
		bench_put(buf, &o, &t, 8);
		bench_put(buf, &o, &tlen, 4);
		bench_put(buf, &o, &plen, 4);
		bench_put(buf, &o, BENCH_TOPIC, tlen);
		bench_put(buf, &o, payload, plen);
		for (sum = 0, k = 0; k < plen; k++)
			sum = sum * 31 + (uint8_t)payload[k];
		bench_put(buf, &o, &sum, 4);
		if ((i + 1) % batch == 0 || i + 1 == n) {
			if (write(fd, buf, o) != (ssize_t)o)
				return -1;
			o = 0;
		}
	}
	printf("segment file, write() per batch: %.2f us/event CPU, ",
	    (bench_cpu() - c0) * 1e6 / n);
	fstat(fd, &st);
	printf("%.1f bytes/event\n", (double)st.st_size / n);
	close(fd);
	unlink(path);
	free(buf);
	return 0;
}

static int
bench_sqlite(const char *path, long n, long batch, const char *payload,
    int plen)
{
	sqlite3		*db;
	sqlite3_stmt	*s;
	struct stat	 st;
	char		 wal[4200];
	double		 c0;
	long		 i;

	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, BENCH_SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO log_event VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?)", -1, &s, NULL) != SQLITE_OK)
		return -1;
	c0 = bench_cpu();
	for (i = 0; i < n; i++) {
		if (i % batch == 0)
			sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		sqlite3_bind_int64(s, 1, i + 1);
		sqlite3_bind_int64(s, 2, INT64_C(1796256000000000) + i);
		sqlite3_bind_text(s, 3, BENCH_TOPIC, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 4, 0);
		sqlite3_bind_int(s, 5, 2);
		sqlite3_bind_blob(s, 6, payload, plen, SQLITE_STATIC);
		sqlite3_bind_null(s, 7);
		sqlite3_bind_int64(s, 8, i + 1);
		if (sqlite3_step(s) != SQLITE_DONE)
			return -1;
		sqlite3_reset(s);
		if ((i + 1) % batch == 0 || i + 1 == n)
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	printf("SQLite, the log's table:         %.2f us/event CPU, ",
	    (bench_cpu() - c0) * 1e6 / n);
	sqlite3_finalize(s);
	sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(db);
	stat(path, &st);
	printf("%.1f bytes/event\n", (double)st.st_size / n);
	unlink(path);
	snprintf(wal, sizeof wal, "%s-wal", path);
	unlink(wal);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*dir = argc > 1 ? argv[1] : "/tmp";
	long		 n = argc > 2 ? atol(argv[2]) : 1000000;
	long		 batch = argc > 3 ? atol(argv[3]) : 64;
	char		 payload[256], seg[4096], db[4096];

	if (n < 1 || batch < 1) {
		fprintf(stderr, "usage: log-store-bench [DIR [EVENTS "
		    "[BATCH]]]\n");
		return 2;
	}
	memset(payload, 'x', sizeof payload);
	snprintf(seg, sizeof seg, "%s/log-store-bench.seg", dir);
	snprintf(db, sizeof db, "%s/log-store-bench.db", dir);
	printf("%ld events of %zu bytes, %ld per batch\n", n, sizeof payload,
	    batch);
	if (bench_segment(seg, n, batch, payload, sizeof payload) != 0 ||
	    bench_sqlite(db, n, batch, payload, sizeof payload) != 0) {
		fprintf(stderr, "log-store-bench: failed in %s\n", dir);
		return 1;
	}
	return 0;
}
