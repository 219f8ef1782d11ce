/* The event log's pure parts: filters, times, $replay/ topics, base64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/conf.h"
#include "gateway/event.h"
#include "lib/mqtt/packet.h"
#include "sinks/log/filter.h"

bool
filter_is_valid(const char *f)
{
	size_t	len = strlen(f), i;

	if (len == 0 || len > 65535 ||
	    !fh_utf8_is_valid((const uint8_t *)f, len))
		return false;
	for (i = 0; i < len; i++) {
		if (f[i] != '+' && f[i] != '#')
			continue;
		/* a wildcard is a whole level */
		if ((i > 0 && f[i - 1] != '/') ||
		    (i + 1 < len && f[i + 1] != '/'))
			return false;
		if (f[i] == '#' && i + 1 != len)
			return false;
	}
	return true;
}

bool
filter_matches(const char *f, const char *t)
{
	return mqtt_topic_matches(f, t, strlen(t));
}

/* n digits at s into *v. */
static int
filter_digits(const char *s, int n, int *v)
{
	int	i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int64_t
filter_days_from_civil(int y, int m, int d)
{
	/* Howard Hinnant's algorithm: days since 1970-01-01. */
	int64_t		yy = y - (m <= 2);
	int64_t		era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t		yoe = yy - era * 400;
	int64_t		doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static int
filter_rfc3339(const char *s, int64_t *us)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int		 y, mo, d, h, mi, sec, oh, om, frac = 0, scale;
	int64_t		 t;
	const char	*p;

	if (strlen(s) < 20 || filter_digits(s, 4, &y) != 0 || s[4] != '-' ||
	    filter_digits(s + 5, 2, &mo) != 0 || s[7] != '-' ||
	    filter_digits(s + 8, 2, &d) != 0 ||
	    (s[10] != 'T' && s[10] != 't') ||
	    filter_digits(s + 11, 2, &h) != 0 || s[13] != ':' ||
	    filter_digits(s + 14, 2, &mi) != 0 || s[16] != ':' ||
	    filter_digits(s + 17, 2, &sec) != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second: the epoch has none */
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (scale = 100000; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	t = ((filter_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 +
	    sec;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		/* UTC */
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
	    filter_digits(p + 1, 2, &oh) == 0 && p[3] == ':' &&
	    filter_digits(p + 4, 2, &om) == 0 && oh <= 23 && om <= 59)
		t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
	else
		return -1;
	*us = t * 1000000 + frac;
	return 0;
}

int
filter_time_parse(const char *s, int64_t now_us, int64_t *us)
{
	long	ms;

	if (filter_rfc3339(s, us) == 0)
		return 0;
	/* a duration: digits and a unit, not a bare number (ambiguous) */
	if (*s < '0' || *s > '9' || s[strspn(s, "0123456789")] == '\0' ||
	    fh_parse_duration(s, &ms) != 0)
		return -1;
	*us = now_us - (int64_t)ms * 1000;
	return 0;
}

void
filter_time_format(int64_t us, char buf[FILTER_TIME_MAX])
{
	time_t		 t;
	struct tm	 tm;
	int64_t		 sec = us / 1000000, frac = us % 1000000;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	snprintf(buf, FILTER_TIME_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)frac);
}

int
filter_seq_parse(const char *s, uint64_t *seq)
{
	uint64_t	v = 0;

	if (*s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*seq = v;
	return 0;
}

bool
filter_is_replay(const char *topic, size_t len)
{
	size_t	n = sizeof FILTER_REPLAY_PREFIX - 1;

	return len >= n && memcmp(topic, FILTER_REPLAY_PREFIX, n) == 0;
}

int
filter_replay_parse(const char *topic, int64_t now_us,
    struct filter_replay *r, const char **why)
{
	const char	*p, *slash;
	char		 part[64];
	size_t		 n;

	memset(r, 0, sizeof *r);
	if (!filter_is_replay(topic, strlen(topic))) {
		*why = "not a $replay/ topic";
		return -1;
	}
	p = topic + sizeof FILTER_REPLAY_PREFIX - 1;
	if ((slash = strchr(p, '/')) == NULL) {
		*why = "expected $replay/<since>/<filter> or "
		    "$replay/seq/<N>/<filter>";
		return -1;
	}
	n = (size_t)(slash - p);
	if (n == 3 && memcmp(p, "seq", 3) == 0) {
		p = slash + 1;
		if ((slash = strchr(p, '/')) == NULL ||
		    (n = (size_t)(slash - p)) >= sizeof part) {
			*why = "expected $replay/seq/<N>/<filter>";
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		if (filter_seq_parse(part, &r->after_seq) != 0) {
			*why = "bad seq in $replay/seq/<N>/: digits expected";
			return -1;
		}
		r->by_seq = true;
	} else {
		if (n >= sizeof part) {
			*why = "bad time in $replay/<since>/";
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		if (filter_time_parse(part, now_us, &r->since_us) != 0) {
			*why = "bad time in $replay/<since>/: RFC 3339 "
			    "(2026-12-01T10:00:00Z) or a duration (1h)";
			return -1;
		}
	}
	r->filter = slash + 1;
	if (!filter_is_valid(r->filter)) {
		*why = "bad topic filter after $replay/<since>/";
		return -1;
	}
	return 0;
}

size_t
filter_base64(const uint8_t *in, size_t len, char *out)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 i, o = 0;
	uint32_t		 v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int
filter_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
filter_unbase64(const char *in, size_t len, uint8_t *out)
{
	size_t		i, o = 0;
	int		v[4], j, pad;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = filter_b64_value(in[i + j])) < 0)
				return -1;
		}
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	out[o] = '\0';
	return (long)o;
}
