/*
 * A pure, streaming subunit v2 parser that keeps a summary of a test run.
 *
 * Feed it the bytes of a stream in pieces of any size; it never holds more
 * than one packet's strings (SUBUNIT_MAX_FIELDS bytes): file attachments
 * are checked against the packet CRC and skipped, not buffered. Bytes
 * between packets that are not a packet (plain text) are counted and
 * skipped the way python-subunit does (a 0xB3 inside a UTF-8 character
 * does not start a packet). A packet that fails its checks (CRC, version,
 * lengths, strings) is counted as corrupt; the first one is remembered with
 * its stream offset and reason, and parsing goes on after the packet's
 * claimed end. After max_corrupt corrupt packets the parser stops.
 */
#ifndef FH_SUBUNIT_PARSE_H
#define FH_SUBUNIT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SUBUNIT_SIGNATURE	0xb3
/* Strings of one packet (test id, tags, MIME type, file name, route code)
 * are kept up to this many bytes; a packet with more is rejected. */
#define SUBUNIT_MAX_FIELDS	65536
/* Failing test ids are kept up to max_failing of them and this many bytes
 * in all, so that an event stays small; the rest are only counted. */
#define SUBUNIT_MAX_FAILING_BYTES	16384

#define SUBUNIT_FLAG_TEST_ID	0x0800
#define SUBUNIT_FLAG_ROUTE_CODE	0x0400
#define SUBUNIT_FLAG_TIMESTAMP	0x0200
#define SUBUNIT_FLAG_RUNNABLE	0x0100
#define SUBUNIT_FLAG_TAGS	0x0080
#define SUBUNIT_FLAG_FILE	0x0040
#define SUBUNIT_FLAG_MIME	0x0020
#define SUBUNIT_FLAG_EOF	0x0010

enum subunit_status {
	SUBUNIT_NONE,
	SUBUNIT_EXISTS,
	SUBUNIT_INPROGRESS,
	SUBUNIT_SUCCESS,
	SUBUNIT_UXSUCCESS,
	SUBUNIT_SKIP,
	SUBUNIT_FAIL,
	SUBUNIT_XFAIL,
};

enum subunit_err {
	SUBUNIT_E_STOPPED = -1,	/* too many corrupt packets: gave up */
};

struct subunit_time {
	int64_t		sec;
	uint32_t	nsec;
};

struct subunit_summary {
	uint64_t		 bytes;		/* stream bytes fed */
	uint64_t		 packets;	/* valid packets */
	uint64_t		 status[8];	/* packets by enum subunit_status */
	uint64_t		 non_subunit;	/* bytes outside any packet */
	uint64_t		 corrupt;	/* packets rejected */
	uint64_t		 error_offset;	/* of the first corrupt packet */
	const char		*error;		/* its reason; NULL if none */
	bool			 stopped;	/* gave up after max_corrupt */
	bool			 have_time;
	struct subunit_time	 start, end;	/* earliest, latest timestamp */
	char			**failing;	/* ids with fail/uxsuccess */
	size_t			 nfailing;
	uint64_t		 failing_omitted;	/* beyond max_failing */
};

struct subunit_parser;

struct subunit_parser	*subunit_parser_create(size_t max_failing,
			    uint64_t max_corrupt);
void			 subunit_parser_free(struct subunit_parser *);
/* 0, or SUBUNIT_E_STOPPED once the parser has given up. */
int			 subunit_parser_feed(struct subunit_parser *,
			    const uint8_t *buf, size_t len);
/* End of stream: a packet cut short counts as corrupt. Returns as feed. */
int			 subunit_parser_finish(struct subunit_parser *);
const struct subunit_summary *subunit_parser_summary(
			    const struct subunit_parser *);

/* "success", "fail", ...; "none" for 0. */
const char		*subunit_status_name(int status);
/*
 * The summary as a JSON object (a new reference):
 * {"tests": {"success": n, ...}, "total": n, "failing_tests": [...],
 *  "failing_tests_omitted": n, "start": "...Z"|null, "end": ...,
 *  "duration": seconds|null, "packets": n, "bytes": n,
 *  "non_subunit_bytes": n, "corrupt_packets": n,
 *  "error": {"offset": n, "reason": "..."} (only when corrupt)}
 */
json_t			*subunit_summary_json(const struct subunit_summary *);

#endif
