/* The Gearman binary protocol: a pure packet codec (no I/O). */
#include <string.h>

#include "sources/subunit/gearman_proto.h"

static const uint8_t gearman_req_magic[4] = { 0, 'R', 'E', 'Q' };
static const uint8_t gearman_res_magic[4] = { 0, 'R', 'E', 'S' };

/* Name and argument count of each type, indexed by type code. */
static const struct {
	const char	*name;
	int		 nargs;
} gearman_types[] = {
	[GEARMAN_CAN_DO] = { "CAN_DO", 1 },
	[GEARMAN_CANT_DO] = { "CANT_DO", 1 },
	[GEARMAN_RESET_ABILITIES] = { "RESET_ABILITIES", 0 },
	[GEARMAN_PRE_SLEEP] = { "PRE_SLEEP", 0 },
	[GEARMAN_NOOP] = { "NOOP", 0 },
	[GEARMAN_SUBMIT_JOB] = { "SUBMIT_JOB", 3 },
	[GEARMAN_JOB_CREATED] = { "JOB_CREATED", 1 },
	[GEARMAN_GRAB_JOB] = { "GRAB_JOB", 0 },
	[GEARMAN_NO_JOB] = { "NO_JOB", 0 },
	[GEARMAN_JOB_ASSIGN] = { "JOB_ASSIGN", 3 },
	[GEARMAN_WORK_STATUS] = { "WORK_STATUS", 3 },
	[GEARMAN_WORK_COMPLETE] = { "WORK_COMPLETE", 2 },
	[GEARMAN_WORK_FAIL] = { "WORK_FAIL", 1 },
	[GEARMAN_GET_STATUS] = { "GET_STATUS", 1 },
	[GEARMAN_ECHO_REQ] = { "ECHO_REQ", 1 },
	[GEARMAN_ECHO_RES] = { "ECHO_RES", 1 },
	[GEARMAN_SUBMIT_JOB_BG] = { "SUBMIT_JOB_BG", 3 },
	[GEARMAN_ERROR] = { "ERROR", 2 },
	[GEARMAN_STATUS_RES] = { "STATUS_RES", 5 },
	[GEARMAN_SUBMIT_JOB_HIGH] = { "SUBMIT_JOB_HIGH", 3 },
	[GEARMAN_SET_CLIENT_ID] = { "SET_CLIENT_ID", 1 },
	[GEARMAN_CAN_DO_TIMEOUT] = { "CAN_DO_TIMEOUT", 2 },
	[GEARMAN_ALL_YOURS] = { "ALL_YOURS", 0 },
	[GEARMAN_WORK_EXCEPTION] = { "WORK_EXCEPTION", 2 },
	[GEARMAN_OPTION_REQ] = { "OPTION_REQ", 1 },
	[GEARMAN_OPTION_RES] = { "OPTION_RES", 1 },
	[GEARMAN_WORK_DATA] = { "WORK_DATA", 2 },
	[GEARMAN_WORK_WARNING] = { "WORK_WARNING", 2 },
	[GEARMAN_GRAB_JOB_UNIQ] = { "GRAB_JOB_UNIQ", 0 },
	[GEARMAN_JOB_ASSIGN_UNIQ] = { "JOB_ASSIGN_UNIQ", 4 },
};

#define GEARMAN_NTYPES	(sizeof gearman_types / sizeof gearman_types[0])

static uint32_t
gearman_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
gearman_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int
gearman_magic_is_prefix(const uint8_t *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < len && i < 3; i++)
		if (buf[i] != gearman_req_magic[i])
			return 0;
	return len < 4 || buf[3] == 'Q' || buf[3] == 'S';
}

ssize_t
gearman_parse(const uint8_t *buf, size_t len, size_t max_size,
    struct gearman_packet *pkt)
{
	uint32_t	size;

	/* Reject a bad magic on its first wrong byte. */
	if (!gearman_magic_is_prefix(buf, len))
		return GEARMAN_E_MAGIC;
	if (len < GEARMAN_HEADER_LEN)
		return 0;
	if (memcmp(buf, gearman_req_magic, 4) == 0)
		pkt->magic = GEARMAN_REQ;
	else if (memcmp(buf, gearman_res_magic, 4) == 0)
		pkt->magic = GEARMAN_RES;
	else
		return GEARMAN_E_MAGIC;
	size = gearman_get32(buf + 8);
	if (size > max_size)
		return GEARMAN_E_TOO_LARGE;
	if (len - GEARMAN_HEADER_LEN < size)
		return 0;
	pkt->type = gearman_get32(buf + 4);
	pkt->data = buf + GEARMAN_HEADER_LEN;
	pkt->size = size;
	return (ssize_t)(GEARMAN_HEADER_LEN + size);
}

int
gearman_split(const struct gearman_packet *pkt, struct gearman_arg *args,
    size_t n)
{
	const uint8_t	*p = pkt->data, *end = pkt->data + pkt->size, *nul;
	size_t		 i;

	if (n == 0)
		return 0;
	for (i = 0; i + 1 < n; i++) {
		nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		if (nul == NULL)
			return GEARMAN_E_ARGS;
		args[i].p = p;
		args[i].len = (size_t)(nul - p);
		p = nul + 1;
	}
	args[i].p = p;
	args[i].len = (size_t)(end - p);
	return 0;
}

int
gearman_type_nargs(uint32_t type)
{
	if (type >= GEARMAN_NTYPES || gearman_types[type].name == NULL)
		return -1;
	return gearman_types[type].nargs;
}

const char *
gearman_type_name(uint32_t type)
{
	if (type >= GEARMAN_NTYPES || gearman_types[type].name == NULL)
		return "UNKNOWN";
	return gearman_types[type].name;
}

size_t
gearman_encode(uint8_t *out, size_t outsz, enum gearman_magic magic,
    uint32_t type, const struct gearman_arg *args, size_t n)
{
	uint8_t	hdr[GEARMAN_HEADER_LEN];
	size_t	size = 0, total, off, i;

	for (i = 0; i < n; i++)
		size += args[i].len + (i + 1 < n ? 1 : 0);
	total = GEARMAN_HEADER_LEN + size;
	if (outsz < total)
		return total;
	memcpy(hdr, magic == GEARMAN_REQ ? gearman_req_magic :
	    gearman_res_magic, 4);
	gearman_put32(hdr + 4, type);
	gearman_put32(hdr + 8, (uint32_t)size);
	memcpy(out, hdr, sizeof hdr);
	off = sizeof hdr;
	for (i = 0; i < n; i++) {
		if (args[i].len > 0)
			memcpy(out + off, args[i].p, args[i].len);
		off += args[i].len;
		if (i + 1 < n)
			out[off++] = '\0';
	}
	return total;
}
