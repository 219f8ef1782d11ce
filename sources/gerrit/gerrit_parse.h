/*
 * Pure helpers of the gerrit source: no event loop, no I/O, so that unit
 * tests, golden files and the fuzzer drive them directly.
 *
 *  - gerrit_parse_line(): one stream-events (or events-log) line -> topic
 *    and the event object, unchanged.
 *  - struct gerrit_lines: splits a byte stream into lines of bounded size.
 *  - gerrit_fingerprint(): an order-independent hash of an event, used to
 *    drop the duplicates that an inclusive events-log window brings back.
 *  - gerrit_events_log_url(): the replay URL for a time window.
 */
#ifndef FH_GERRIT_PARSE_H
#define FH_GERRIT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

enum gerrit_err {
	GERRIT_OK = 0,
	GERRIT_E_EMPTY = -1,		/* blank line: nothing to publish */
	GERRIT_E_MALFORMED = -2,	/* not JSON (or not UTF-8) */
	GERRIT_E_NOT_OBJECT = -3,	/* JSON, but not an object */
	GERRIT_E_NO_TYPE = -4,		/* no non-empty string "type" */
	GERRIT_E_TOO_LARGE = -5,	/* longer than the line limit */
};

const char	*gerrit_strerror(int err);

/*
 * Parse one line (without or with its trailing "\n" / "\r\n"). On success
 * *topic is "<base>/<project>/<type>" (malloc'd) and *event a new
 * reference to the object as read, key order kept. The project comes from
 * the top-level "project", else "change.project", else
 * "refUpdate.project", else it is empty ("<base>//<type>"). MQTT wildcard
 * characters ('+', '#') in a level become '_'.
 */
int		 gerrit_parse_line(const uint8_t *line, size_t len,
		    const char *base, char **topic, json_t **event);

/* The project an event belongs to, "" if none (points into event). */
const char	*gerrit_event_project(const json_t *event);
/* eventCreatedOn in seconds, or 0 when absent. */
int64_t		 gerrit_event_time(const json_t *event);

/* FNV-1a 64 of the compact, key-sorted serialization. */
uint64_t	 gerrit_fingerprint(const json_t *event);

/*
 * Line splitter with a size bound. Feed bytes; cb runs once per complete
 * line (without "\n"), with err 0. A line longer than max is reported once
 * with err GERRIT_E_TOO_LARGE and its first bytes, then skipped up to its
 * newline. The callback must not free the splitter.
 */
typedef void	(*gerrit_line_cb)(const uint8_t *line, size_t len, int err,
		    void *arg);

struct gerrit_lines {
	uint8_t		*buf;
	size_t		 len;
	size_t		 cap;
	size_t		 max;
	bool		 skipping;
};

void		 gerrit_lines_init(struct gerrit_lines *, size_t max);
void		 gerrit_lines_feed(struct gerrit_lines *, const uint8_t *,
		    size_t, gerrit_line_cb, void *arg);
/* End of stream: a last line without "\n" is delivered too. */
void		 gerrit_lines_finish(struct gerrit_lines *, gerrit_line_cb,
		    void *arg);
void		 gerrit_lines_reset(struct gerrit_lines *);
void		 gerrit_lines_free(struct gerrit_lines *);

/*
 * "<url>?t1=<from>;t2=<to>" (or "&t1=" when url has a query already),
 * times as "yyyy-MM-dd HH:mm:ss" in UTC, URL-encoded. malloc'd.
 */
char		*gerrit_events_log_url(const char *url, time_t t1, time_t t2);

#endif
