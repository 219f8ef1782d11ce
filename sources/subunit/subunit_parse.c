/*
 * Streaming subunit v2 parser (pure: bytes in, summary out).
 *
 * PACKET := SIGNATURE FLAGS PACKET_LENGTH TIMESTAMP? TESTID? TAGS? MIME?
 *           FILECONTENT? ROUTING_CODE? CRC32
 * (testing-cabal/subunit README, "Version 2"). The parser is a byte-level
 * state machine: it collects exactly the bytes each field needs, keeps the
 * strings of the current packet in one bounded buffer, runs the CRC over
 * everything as it goes and skips file content without storing it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "sources/subunit/subunit_parse.h"

enum subunit_state {
	SUBUNIT_SCAN,		/* between packets */
	SUBUNIT_COLLECT,	/* gathering p->want bytes for p->field */
	SUBUNIT_SKIPPING,	/* file content / trailing body: CRC only */
	SUBUNIT_DISCARD,	/* rest of a bad packet */
	SUBUNIT_STOPPED,
};

enum subunit_field {
	SUBUNIT_F_HDR,		/* flags + first length byte */
	SUBUNIT_F_LEN,		/* the other length bytes */
	SUBUNIT_F_TS,		/* 4 bytes of seconds */
	SUBUNIT_F_VARINT,	/* first byte of a varint */
	SUBUNIT_F_VARINT_REST,
	SUBUNIT_F_STRING,
	SUBUNIT_F_CRC,
};

/* What a varint or string being read is for. */
enum subunit_item {
	SUBUNIT_I_TS_NSEC,
	SUBUNIT_I_ID,
	SUBUNIT_I_TAGS_N,
	SUBUNIT_I_TAG,
	SUBUNIT_I_MIME,
	SUBUNIT_I_FNAME,
	SUBUNIT_I_FLEN,
	SUBUNIT_I_ROUTE,
};

/* Sections of the body, in wire order. */
enum subunit_section {
	SUBUNIT_S_START,
	SUBUNIT_S_TS,
	SUBUNIT_S_ID,
	SUBUNIT_S_TAGS,
	SUBUNIT_S_MIME,
	SUBUNIT_S_FILE,
	SUBUNIT_S_ROUTE,
	SUBUNIT_S_TRAIL,
};

struct subunit_parser {
	struct subunit_summary	 s;
	size_t			 max_failing;
	size_t			 failing_bytes;	/* of the ids kept */
	uint64_t		 max_corrupt;

	enum subunit_state	 state;
	enum subunit_field	 field;
	enum subunit_item	 item;
	unsigned		 utf8_need;	/* text between packets */

	uint64_t		 off;		/* offset of the next byte */
	uint64_t		 pkt_off;	/* of the current signature */
	uint32_t		 crc;
	uint16_t		 flags;
	uint32_t		 left;		/* packet bytes still to come */
	const char		*reason;	/* why a packet is discarded */

	uint8_t			 tmp[8];	/* header, varints, CRC */
	size_t			 tmp_len;
	size_t			 want;		/* bytes to collect */
	size_t			 have;

	uint8_t			*fb;		/* this packet's strings */
	size_t			 fb_len;
	size_t			 str_off;	/* current string in fb */
	size_t			 id_off, id_len;
	bool			 have_id;
	uint64_t		 tags_left;
	uint64_t		 skip;
	enum subunit_section	 section;	/* last one finished */

	bool			 have_ts;
	struct subunit_time	 ts;
};

static const char *const subunit_status_names[8] = {
	"none", "exists", "inprogress", "success", "uxsuccess", "skip",
	"fail", "xfail",
};

const char *
subunit_status_name(int status)
{
	if (status < 0 || status > 7)
		return "none";
	return subunit_status_names[status];
}

struct subunit_parser *
subunit_parser_create(size_t max_failing, uint64_t max_corrupt)
{
	struct subunit_parser	*p = fh_xcalloc(1, sizeof *p);

	p->max_failing = max_failing;
	p->max_corrupt = max_corrupt > 0 ? max_corrupt : 1;
	p->s.failing = fh_xcalloc(max_failing + 1, sizeof *p->s.failing);
	p->fb = fh_xmalloc(SUBUNIT_MAX_FIELDS);
	p->state = SUBUNIT_SCAN;
	return p;
}

void
subunit_parser_free(struct subunit_parser *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->s.nfailing; i++)
		free(p->s.failing[i]);
	free(p->s.failing);
	free(p->fb);
	free(p);
}

const struct subunit_summary *
subunit_parser_summary(const struct subunit_parser *p)
{
	return &p->s;
}

/* A rejected packet: count it and go back to scanning. */
static void
subunit_corrupt(struct subunit_parser *p, const char *reason)
{
	if (p->s.corrupt++ == 0) {
		p->s.error_offset = p->pkt_off;
		p->s.error = reason;
	}
	p->utf8_need = 0;
	if (p->s.corrupt >= p->max_corrupt) {
		p->s.stopped = true;
		p->state = SUBUNIT_STOPPED;
	} else
		p->state = SUBUNIT_SCAN;
}

/* A bad field once the length is known: drop the rest of the packet, as
 * python-subunit does, so that the next packet is found where it starts. */
static void
subunit_discard(struct subunit_parser *p, const char *reason)
{
	p->reason = reason;
	if (p->left == 0)
		subunit_corrupt(p, reason);
	else
		p->state = SUBUNIT_DISCARD;
}

static uint32_t
subunit_get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Body bytes still to come before the CRC. */
static uint32_t
subunit_body_left(const struct subunit_parser *p)
{
	return p->left - 4;
}

/* Collect n bytes of the body for field f (bounded by the body). */
static void
subunit_want(struct subunit_parser *p, enum subunit_field f, size_t n)
{
	if (f != SUBUNIT_F_CRC && n > subunit_body_left(p)) {
		subunit_discard(p, f == SUBUNIT_F_STRING ?
		    "string extends past end of packet" :
		    "field extends past end of packet");
		return;
	}
	p->state = SUBUNIT_COLLECT;
	p->field = f;
	p->want = n;
	p->have = 0;
	if (f != SUBUNIT_F_STRING)
		p->tmp_len = 0;
}

static void
subunit_read_varint(struct subunit_parser *p, enum subunit_item item)
{
	p->item = item;
	subunit_want(p, SUBUNIT_F_VARINT, 1);
}

/* Go to the first section after `done` that the flags say is there. */
static void
subunit_next(struct subunit_parser *p, enum subunit_section done)
{
	uint16_t	f = p->flags;
	int		s;

	for (s = (int)done + 1; s <= SUBUNIT_S_TRAIL; s++) {
		p->section = (enum subunit_section)s;
		switch (s) {
		case SUBUNIT_S_TS:
			if (f & SUBUNIT_FLAG_TIMESTAMP) {
				subunit_want(p, SUBUNIT_F_TS, 4);
				return;
			}
			break;
		case SUBUNIT_S_ID:
			if (f & SUBUNIT_FLAG_TEST_ID) {
				subunit_read_varint(p, SUBUNIT_I_ID);
				return;
			}
			break;
		case SUBUNIT_S_TAGS:
			if (f & SUBUNIT_FLAG_TAGS) {
				subunit_read_varint(p, SUBUNIT_I_TAGS_N);
				return;
			}
			break;
		case SUBUNIT_S_MIME:
			if (f & SUBUNIT_FLAG_MIME) {
				subunit_read_varint(p, SUBUNIT_I_MIME);
				return;
			}
			break;
		case SUBUNIT_S_FILE:
			if (f & SUBUNIT_FLAG_FILE) {
				subunit_read_varint(p, SUBUNIT_I_FNAME);
				return;
			}
			break;
		case SUBUNIT_S_ROUTE:
			if (f & SUBUNIT_FLAG_ROUTE_CODE) {
				subunit_read_varint(p, SUBUNIT_I_ROUTE);
				return;
			}
			break;
		case SUBUNIT_S_TRAIL:
			/* python-subunit ignores body bytes after the last
			 * field; so do we (they are still under the CRC). */
			if (subunit_body_left(p) > 0) {
				p->skip = subunit_body_left(p);
				p->state = SUBUNIT_SKIPPING;
			} else
				subunit_want(p, SUBUNIT_F_CRC, 4);
			return;
		}
	}
}

static void
subunit_add_failing(struct subunit_parser *p)
{
	if (!p->have_id)
		return;
	if (p->s.nfailing >= p->max_failing ||
	    p->failing_bytes + p->id_len > SUBUNIT_MAX_FAILING_BYTES) {
		p->s.failing_omitted++;
		return;
	}
	p->failing_bytes += p->id_len;
	p->s.failing[p->s.nfailing++] = fh_xstrndup(
	    (const char *)p->fb + p->id_off, p->id_len);
}

static int
subunit_time_cmp(const struct subunit_time *a, const struct subunit_time *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}

/* A whole packet with a good CRC. */
static void
subunit_packet_done(struct subunit_parser *p)
{
	int	status = p->flags & 0x7;

	p->s.packets++;
	p->s.status[status]++;
	if (status == SUBUNIT_FAIL || status == SUBUNIT_UXSUCCESS)
		subunit_add_failing(p);
	if (p->have_ts) {
		if (!p->s.have_time) {
			p->s.start = p->s.end = p->ts;
			p->s.have_time = true;
		} else if (subunit_time_cmp(&p->ts, &p->s.start) < 0)
			p->s.start = p->ts;
		else if (subunit_time_cmp(&p->ts, &p->s.end) > 0)
			p->s.end = p->ts;
	}
	p->state = SUBUNIT_SCAN;
	p->utf8_need = 0;
}

static uint32_t
subunit_varint(const uint8_t *b, size_t n)
{
	uint32_t	v = b[0] & 0x3f;
	size_t		i;

	for (i = 1; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

static void subunit_string_done(struct subunit_parser *);

static void
subunit_varint_done(struct subunit_parser *p, uint32_t v)
{
	switch (p->item) {
	case SUBUNIT_I_TS_NSEC:
		p->ts.sec += v / 1000000000u;
		p->ts.nsec = v % 1000000000u;
		p->have_ts = true;
		subunit_next(p, SUBUNIT_S_TS);
		return;
	case SUBUNIT_I_TAGS_N:
		p->tags_left = v;
		if (v == 0)
			subunit_next(p, SUBUNIT_S_TAGS);
		else
			subunit_read_varint(p, SUBUNIT_I_TAG);
		return;
	case SUBUNIT_I_FLEN:
		if (v > subunit_body_left(p)) {
			subunit_discard(p,
			    "file content extends past end of packet");
			return;
		}
		p->skip = v;
		if (v == 0)
			subunit_next(p, SUBUNIT_S_FILE);
		else
			p->state = SUBUNIT_SKIPPING;
		return;
	default:	/* the length of a string */
		if (p->fb_len + v > SUBUNIT_MAX_FIELDS) {
			subunit_discard(p, "strings exceed the 64 KiB limit");
			return;
		}
		p->str_off = p->fb_len;
		if (v == 0)
			subunit_string_done(p);
		else
			subunit_want(p, SUBUNIT_F_STRING, v);
		return;
	}
}

static void
subunit_string_done(struct subunit_parser *p)
{
	const uint8_t	*s = p->fb + p->str_off;
	size_t		 len = p->fb_len - p->str_off;

	if (memchr(s, '\0', len) != NULL) {
		subunit_discard(p, "string contains a NUL byte");
		return;
	}
	if (!fh_utf8_is_valid(s, len)) {
		subunit_discard(p, "string is not valid UTF-8");
		return;
	}
	switch (p->item) {
	case SUBUNIT_I_ID:
		p->id_off = p->str_off;
		p->id_len = len;
		p->have_id = true;
		subunit_next(p, SUBUNIT_S_ID);
		return;
	case SUBUNIT_I_TAG:
		p->fb_len = p->str_off;
		if (--p->tags_left > 0)
			subunit_read_varint(p, SUBUNIT_I_TAG);
		else
			subunit_next(p, SUBUNIT_S_TAGS);
		return;
	case SUBUNIT_I_MIME:
		p->fb_len = p->str_off;
		subunit_next(p, SUBUNIT_S_MIME);
		return;
	case SUBUNIT_I_FNAME:
		p->fb_len = p->str_off;
		subunit_read_varint(p, SUBUNIT_I_FLEN);
		return;
	case SUBUNIT_I_ROUTE:
		p->fb_len = p->str_off;
		subunit_next(p, SUBUNIT_S_ROUTE);
		return;
	default:
		return;
	}
}

/* p->want bytes of p->field are in. */
static void
subunit_collected(struct subunit_parser *p)
{
	uint32_t	plen, hdr;
	size_t		n;

	switch (p->field) {
	case SUBUNIT_F_HDR:
		p->flags = (uint16_t)(p->tmp[0] << 8 | p->tmp[1]);
		n = 1 + (p->tmp[2] >> 6);
		if (n == 4) {
			subunit_corrupt(p, "packet length longer than 3 bytes");
			return;
		}
		if (n > 1) {
			p->state = SUBUNIT_COLLECT;
			p->field = SUBUNIT_F_LEN;
			p->want = n - 1;
			p->have = 0;
			return;
		}
		/* FALLTHROUGH */
	case SUBUNIT_F_LEN:
		n = p->tmp_len - 2;
		plen = subunit_varint(p->tmp + 2, n);
		hdr = 1 + 2 + (uint32_t)n;
		if (plen < hdr + 4) {
			subunit_corrupt(p, "packet length too short");
			return;
		}
		p->left = plen - hdr;
		p->fb_len = 0;
		p->have_id = false;
		p->have_ts = false;
		if ((p->flags >> 12) != 0x2) {
			subunit_discard(p, "unsupported version");
			return;
		}
		subunit_next(p, SUBUNIT_S_START);
		return;
	case SUBUNIT_F_TS:
		p->ts.sec = subunit_get32(p->tmp);
		subunit_read_varint(p, SUBUNIT_I_TS_NSEC);
		return;
	case SUBUNIT_F_VARINT:
		n = 1 + (p->tmp[0] >> 6);
		if (n == 1) {
			subunit_varint_done(p, p->tmp[0] & 0x3f);
			return;
		}
		if (n - 1 > subunit_body_left(p)) {
			subunit_discard(p, "field extends past end of packet");
			return;
		}
		p->field = SUBUNIT_F_VARINT_REST;
		p->want = n - 1;
		p->have = 0;
		return;
	case SUBUNIT_F_VARINT_REST:
		subunit_varint_done(p, subunit_varint(p->tmp, p->tmp_len));
		return;
	case SUBUNIT_F_STRING:
		subunit_string_done(p);
		return;
	case SUBUNIT_F_CRC:
		if (subunit_get32(p->tmp) != p->crc) {
			subunit_corrupt(p, "bad checksum");
			return;
		}
		subunit_packet_done(p);
		return;
	}
}

/* Between packets: does byte c start one? Tracks UTF-8 text so that a
 * continuation byte 0xB3 inside a character is text (python-subunit). */
static bool
subunit_scan_byte(struct subunit_parser *p, uint8_t c)
{
	if (p->utf8_need > 0 && (c & 0xc0) == 0x80) {
		p->utf8_need--;
		return false;
	}
	p->utf8_need = 0;
	if (c == SUBUNIT_SIGNATURE)
		return true;
	if (c >= 0xc2 && c <= 0xdf)
		p->utf8_need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		p->utf8_need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		p->utf8_need = 3;
	return false;
}

int
subunit_parser_feed(struct subunit_parser *p, const uint8_t *buf, size_t len)
{
	size_t	n;

	while (len > 0) {
		switch (p->state) {
		case SUBUNIT_STOPPED:
			p->s.bytes += len;
			p->off += len;
			return SUBUNIT_E_STOPPED;
		case SUBUNIT_SCAN:
			for (n = 0; n < len; n++)
				if (subunit_scan_byte(p, buf[n]))
					break;
			p->s.non_subunit += n;
			if (n == len)
				break;
			p->pkt_off = p->off + n;
			p->crc = (uint32_t)crc32(0L, buf + n, 1);
			n++;
			/* the header is not bounded by a body yet */
			p->left = 0;
			p->state = SUBUNIT_COLLECT;
			p->field = SUBUNIT_F_HDR;
			p->want = 3;
			p->have = 0;
			p->tmp_len = 0;
			break;
		case SUBUNIT_SKIPPING:
			n = len < p->skip ? len : (size_t)p->skip;
			p->crc = (uint32_t)crc32(p->crc, buf, (uInt)n);
			p->skip -= n;
			p->left -= (uint32_t)n;
			if (p->skip > 0)
				break;
			if (p->section == SUBUNIT_S_TRAIL)
				subunit_want(p, SUBUNIT_F_CRC, 4);
			else
				subunit_next(p, SUBUNIT_S_FILE);
			break;
		case SUBUNIT_DISCARD:
			n = len < p->left ? len : p->left;
			p->left -= (uint32_t)n;
			if (p->left == 0)
				subunit_corrupt(p, p->reason);
			break;
		case SUBUNIT_COLLECT:
		default:
			n = p->want - p->have;
			if (n > len)
				n = len;
			if (p->field == SUBUNIT_F_STRING) {
				memcpy(p->fb + p->fb_len, buf, n);
				p->fb_len += n;
			} else {
				memcpy(p->tmp + p->tmp_len, buf, n);
				p->tmp_len += n;
			}
			if (p->field != SUBUNIT_F_CRC) {
				p->crc = (uint32_t)crc32(p->crc, buf, (uInt)n);
				if (p->field != SUBUNIT_F_HDR &&
				    p->field != SUBUNIT_F_LEN)
					p->left -= (uint32_t)n;
			} else
				p->left -= (uint32_t)n;
			p->have += n;
			if (p->have == p->want)
				subunit_collected(p);
			break;
		}
		buf += n;
		len -= n;
		p->off += n;
		p->s.bytes += n;
	}
	return p->state == SUBUNIT_STOPPED ? SUBUNIT_E_STOPPED : 0;
}

int
subunit_parser_finish(struct subunit_parser *p)
{
	if (p->state != SUBUNIT_SCAN && p->state != SUBUNIT_STOPPED)
		subunit_corrupt(p, "packet cut short by the end of the stream");
	return p->state == SUBUNIT_STOPPED ? SUBUNIT_E_STOPPED : 0;
}

static json_t *
subunit_time_json(const struct subunit_time *t)
{
	struct tm	tm;
	time_t		sec = (time_t)t->sec;
	char		buf[64];

	if (gmtime_r(&sec, &tm) == NULL)
		return json_null();
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned)(t->nsec / 1000));
	return json_string(buf);
}

json_t *
subunit_summary_json(const struct subunit_summary *s)
{
	json_t		*o = json_object(), *tests = json_object(), *fail;
	uint64_t	 total = 0;
	int64_t		 us;
	size_t		 i;
	int		 st;

	for (st = SUBUNIT_EXISTS; st <= SUBUNIT_XFAIL; st++) {
		json_object_set_new(tests, subunit_status_names[st],
		    json_integer((json_int_t)s->status[st]));
		if (st >= SUBUNIT_SUCCESS)
			total += s->status[st];
	}
	json_object_set_new(o, "tests", tests);
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	fail = json_array();
	for (i = 0; i < s->nfailing; i++)
		json_array_append_new(fail, json_string(s->failing[i]));
	json_object_set_new(o, "failing_tests", fail);
	json_object_set_new(o, "failing_tests_omitted",
	    json_integer((json_int_t)s->failing_omitted));
	if (s->have_time) {
		json_object_set_new(o, "start", subunit_time_json(&s->start));
		json_object_set_new(o, "end", subunit_time_json(&s->end));
		/* whole microseconds, as python's datetime has them */
		us = (s->end.sec - s->start.sec) * 1000000 +
		    ((int64_t)(s->end.nsec / 1000) -
		    (int64_t)(s->start.nsec / 1000));
		json_object_set_new(o, "duration", json_real((double)us / 1e6));
	} else {
		json_object_set_new(o, "start", json_null());
		json_object_set_new(o, "end", json_null());
		json_object_set_new(o, "duration", json_null());
	}
	json_object_set_new(o, "packets", json_integer((json_int_t)s->packets));
	json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
	json_object_set_new(o, "non_subunit_bytes",
	    json_integer((json_int_t)s->non_subunit));
	json_object_set_new(o, "corrupt_packets",
	    json_integer((json_int_t)s->corrupt));
	if (s->corrupt > 0)
		json_object_set_new(o, "error", json_pack("{s:I,s:s}",
		    "offset", (json_int_t)s->error_offset,
		    "reason", s->error));
	if (s->stopped)
		json_object_set_new(o, "stopped", json_true());
	return o;
}
