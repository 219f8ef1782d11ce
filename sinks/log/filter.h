/*
 * The event log's pure parts: topic filters, times, the $replay/ topic
 * form, base64. No I/O; unit tested and fuzzed.
 */
#ifndef LOG_FILTER_H
#define LOG_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FILTER_TIME_MAX	64	/* a formatted time, with its NUL */

/* An MQTT subscription filter: '+' a whole level, '#' only last, no NUL,
 * 1..65535 bytes. */
bool	filter_is_valid(const char *filter);
/* MQTT matching; a filter starting with a wildcard never matches a
 * topic starting with '$'. */
bool	filter_matches(const char *filter, const char *topic);

/*
 * A time for since= / until= / $replay/: RFC 3339 ("2026-12-01T10:00:00Z",
 * fraction and +hh:mm offset allowed), or a duration before now ("90s",
 * "15m", "1h", "7d"). Microseconds since the epoch into *us. 0 or -1.
 */
int	filter_time_parse(const char *s, int64_t now_us, int64_t *us);
/* "2026-12-01T10:00:00.123456Z" (UTC, always 6 fraction digits). */
void	filter_time_format(int64_t us, char buf[FILTER_TIME_MAX]);

/* A decimal seq: digits only, no sign, fits 63 bits. 0 or -1. */
int	filter_seq_parse(const char *s, uint64_t *seq);

/*
 * "$replay/..." as subscribed. Forms (the part after "$replay/"):
 *   seq/<N>/<filter>     the events after seq N
 *   <time>/<filter>      the events at or after time (RFC 3339 or a
 *                        duration before now, as filter_time_parse)
 * *filter points into topic. Returns 0, or -1 with *why.
 */
#define FILTER_REPLAY_PREFIX	"$replay/"
#define FILTER_REPLAY_DONE	"$replay/done"

struct filter_replay {
	bool		 by_seq;
	uint64_t	 after_seq;
	int64_t		 since_us;
	const char	*filter;
};

bool	filter_is_replay(const char *topic, size_t len);
int	filter_replay_parse(const char *topic, int64_t now_us,
	    struct filter_replay *, const char **why);

/* Standard base64 with padding into out (4 * ((len + 2) / 3) + 1 bytes);
 * returns the length written, without the NUL. */
size_t	filter_base64(const uint8_t *in, size_t len, char *out);
/* Decode standard base64 (padding required, no whitespace) into out (at
 * least 3 * len / 4 + 1 bytes; NUL-terminated). Length, or -1. */
long	filter_unbase64(const char *in, size_t len, uint8_t *out);

#endif
