/*
 * The Gearman binary protocol, worker side: a pure packet codec.
 *
 * Every packet is a 12-byte header ("\0REQ" or "\0RES", a big-endian
 * uint32 type, a big-endian uint32 data size) followed by the data: the
 * arguments separated by NUL, the last one running to the end of the data
 * (it may contain NULs). See gearmand's PROTOCOL file.
 */
#ifndef FH_GEARMAN_PROTO_H
#define FH_GEARMAN_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GEARMAN_HEADER_LEN	12
#define GEARMAN_MAX_ARGS	8

enum gearman_magic {
	GEARMAN_REQ,		/* "\0REQ": worker/client -> server */
	GEARMAN_RES,		/* "\0RES": server -> worker/client */
};

enum gearman_type {
	GEARMAN_CAN_DO = 1,
	GEARMAN_CANT_DO = 2,
	GEARMAN_RESET_ABILITIES = 3,
	GEARMAN_PRE_SLEEP = 4,
	GEARMAN_NOOP = 6,
	GEARMAN_SUBMIT_JOB = 7,
	GEARMAN_JOB_CREATED = 8,
	GEARMAN_GRAB_JOB = 9,
	GEARMAN_NO_JOB = 10,
	GEARMAN_JOB_ASSIGN = 11,
	GEARMAN_WORK_STATUS = 12,
	GEARMAN_WORK_COMPLETE = 13,
	GEARMAN_WORK_FAIL = 14,
	GEARMAN_GET_STATUS = 15,
	GEARMAN_ECHO_REQ = 16,
	GEARMAN_ECHO_RES = 17,
	GEARMAN_SUBMIT_JOB_BG = 18,
	GEARMAN_ERROR = 19,
	GEARMAN_STATUS_RES = 20,
	GEARMAN_SUBMIT_JOB_HIGH = 21,
	GEARMAN_SET_CLIENT_ID = 22,
	GEARMAN_CAN_DO_TIMEOUT = 23,
	GEARMAN_ALL_YOURS = 24,
	GEARMAN_WORK_EXCEPTION = 25,
	GEARMAN_OPTION_REQ = 26,
	GEARMAN_OPTION_RES = 27,
	GEARMAN_WORK_DATA = 28,
	GEARMAN_WORK_WARNING = 29,
	GEARMAN_GRAB_JOB_UNIQ = 30,
	GEARMAN_JOB_ASSIGN_UNIQ = 31,
};

enum gearman_err {
	GEARMAN_E_MAGIC = -1,	/* not "\0REQ" / "\0RES" */
	GEARMAN_E_TOO_LARGE = -2,	/* data size over the caller's limit */
	GEARMAN_E_ARGS = -3,	/* fewer arguments than the type needs */
};

/* One argument: bytes, not NUL-terminated. */
struct gearman_arg {
	const uint8_t	*p;
	size_t		 len;
};

struct gearman_packet {
	enum gearman_magic	 magic;
	uint32_t		 type;
	const uint8_t		*data;	/* points into the parsed buffer */
	size_t			 size;
};

/*
 * Parse one packet from the front of buf. Returns the number of bytes it
 * takes (header + data) when a whole packet is there, 0 when more bytes are
 * needed, or a negative gearman_err. The header is checked as soon as its
 * 12 bytes are there, so a bad magic or a size over max_size fails early.
 */
ssize_t		 gearman_parse(const uint8_t *buf, size_t len, size_t max_size,
		    struct gearman_packet *pkt);

/*
 * Split the data into exactly n arguments: the first n-1 end at a NUL, the
 * last runs to the end. Returns 0, or GEARMAN_E_ARGS when the data has
 * fewer than n-1 NULs. n == 0 accepts anything and fills nothing.
 */
int		 gearman_split(const struct gearman_packet *pkt,
		    struct gearman_arg *args, size_t n);

/* How many arguments a packet of this type carries (-1: unknown type). */
int		 gearman_type_nargs(uint32_t type);
/* "JOB_ASSIGN_UNIQ", or "UNKNOWN". */
const char	*gearman_type_name(uint32_t type);

/*
 * Encode a packet into out (outsz bytes). Returns the length of the whole
 * packet; when that is more than outsz nothing is written, so call it with
 * outsz 0 to learn the size.
 */
size_t		 gearman_encode(uint8_t *out, size_t outsz,
		    enum gearman_magic magic, uint32_t type,
		    const struct gearman_arg *args, size_t n);

#endif
