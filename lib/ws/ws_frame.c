/* RFC 6455 frame codec: pure functions, see ws_frame.h. */
#include <string.h>

#include <openssl/evp.h>

#include "gateway/event.h"
#include "lib/ws/ws_frame.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int
ws_frame_parse_header(const uint8_t *p, size_t len, struct ws_frame_hdr *h)
{
	size_t		need = 2, i;
	uint64_t	n;

	if (len < 2)
		return 0;
	h->fin = (p[0] & 0x80) != 0;
	h->rsv = (p[0] >> 4) & 0x7;
	h->opcode = p[0] & 0x0f;
	h->masked = (p[1] & 0x80) != 0;
	n = p[1] & 0x7f;
	if (n == 126)
		need += 2;
	else if (n == 127)
		need += 8;
	if (h->masked)
		need += 4;
	if (len < need)
		return 0;
	if (n == 126) {
		n = (uint64_t)p[2] << 8 | p[3];
		if (n < 126)
			return -1;
	} else if (n == 127) {
		n = 0;
		for (i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
		if (n >> 63 || n <= 0xffff)
			return -1;
	}
	h->len = n;
	if (h->masked)
		memcpy(h->mask, p + need - 4, 4);
	else
		memset(h->mask, 0, 4);
	return (int)need;
}

size_t
ws_frame_write_header(uint8_t *out, bool fin, uint8_t opcode, uint64_t len,
    const uint8_t *mask)
{
	size_t	n = 2;
	int	i;

	out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
	if (len < 126)
		out[1] = (uint8_t)len;
	else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void
ws_frame_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t off)
{
	size_t	i;

	for (i = 0; i < len; i++)
		buf[i] ^= key[(off + i) & 3];
}

static bool
ws_frame_close_code_is_valid(uint16_t code)
{
	if (code >= 3000 && code <= 4999)
		return true;
	switch (code) {
	case 1000: case 1001: case 1002: case 1003: case 1007: case 1008:
	case 1009: case 1010: case 1011:
		return true;
	default:
		return false;
	}
}

int
ws_frame_close_parse(const uint8_t *p, size_t len, uint16_t *code)
{
	if (len == 0) {
		*code = WS_CLOSE_NO_STATUS;
		return 0;
	}
	if (len == 1)
		return WS_CLOSE_PROTOCOL;
	*code = (uint16_t)(p[0] << 8 | p[1]);
	if (!ws_frame_close_code_is_valid(*code))
		return WS_CLOSE_PROTOCOL;
	if (!fh_utf8_is_valid(p + 2, len - 2))
		return WS_CLOSE_BAD_DATA;
	return 0;
}

void
ws_frame_accept_key(const char *key, size_t keylen, char out[29])
{
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	out[0] = '\0';
	if (ctx == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, keylen) == 1 &&
	    EVP_DigestUpdate(ctx, WS_GUID, sizeof WS_GUID - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20)
		EVP_EncodeBlock((unsigned char *)out, md, 20);
	EVP_MD_CTX_free(ctx);
}

void
ws_decoder_init(struct ws_decoder *d, uint64_t max_frame, uint64_t max_message)
{
	memset(d, 0, sizeof *d);
	d->max_frame = max_frame;
	d->max_message = max_message;
}

static void
ws_decoder_fail(struct ws_decoder *d, struct ws_decoded *res, uint16_t code)
{
	d->failed = true;
	res->ev = WS_EV_ERROR;
	res->close_code = code;
}

/* Check a complete header; 0 or the close code. */
static uint16_t
ws_decoder_check(struct ws_decoder *d, const struct ws_frame_hdr *h)
{
	if (h->rsv != 0 || !h->masked)
		return WS_CLOSE_PROTOCOL;
	if (h->opcode >= 0x8) {
		if (h->opcode > WS_OP_PONG || !h->fin ||
		    h->len > WS_CONTROL_MAX)
			return WS_CLOSE_PROTOCOL;
		return 0;
	}
	switch (h->opcode) {
	case WS_OP_CONT:
		if (!d->in_message)
			return WS_CLOSE_PROTOCOL;
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (d->in_message)
			return WS_CLOSE_PROTOCOL;
		break;
	default:
		return WS_CLOSE_PROTOCOL;
	}
	if (d->max_frame != 0 && h->len > d->max_frame)
		return WS_CLOSE_TOO_BIG;
	if (d->max_message != 0 && (h->opcode == WS_OP_CONT ?
	    d->msg_len : 0) + h->len > d->max_message)
		return WS_CLOSE_TOO_BIG;
	return 0;
}

/* The current frame is complete. */
static void
ws_decoder_end_frame(struct ws_decoder *d, struct ws_decoded *res)
{
	uint16_t	code = 0;
	int		err;

	d->in_frame = false;
	if (d->cur.opcode < 0x8) {
		if (d->cur.fin)
			d->in_message = false;
		return;
	}
	ws_frame_mask(d->ctl, (size_t)d->cur.len, d->cur.mask, 0);
	res->ctl = d->ctl;
	res->ctl_len = (size_t)d->cur.len;
	switch (d->cur.opcode) {
	case WS_OP_PING:
		res->ev = WS_EV_PING;
		break;
	case WS_OP_PONG:
		res->ev = WS_EV_PONG;
		break;
	default:
		if ((err = ws_frame_close_parse(d->ctl, res->ctl_len,
		    &code)) != 0) {
			ws_decoder_fail(d, res, (uint16_t)err);
			return;
		}
		d->failed = true;	/* nothing is read after a close */
		res->ev = WS_EV_CLOSE;
		res->close_code = code;
		break;
	}
}

size_t
ws_decoder_feed(struct ws_decoder *d, const uint8_t *in, size_t len,
    uint8_t *out, size_t outcap, struct ws_decoded *res)
{
	size_t	pos = 0, n;
	int	hl;

	memset(res, 0, sizeof *res);
	res->ev = WS_EV_NONE;
	while (!d->failed && pos < len) {
		if (!d->in_frame) {
			size_t	had = d->hdr_len;
			uint16_t code;

			n = WS_HEADER_MAX - had;
			if (n > len - pos)
				n = len - pos;
			memcpy(d->hdr + had, in + pos, n);
			hl = ws_frame_parse_header(d->hdr, had + n, &d->cur);
			if (hl < 0) {
				ws_decoder_fail(d, res, WS_CLOSE_PROTOCOL);
				return pos;
			}
			if (hl == 0) {
				d->hdr_len += n;
				pos += n;
				continue;
			}
			if ((code = ws_decoder_check(d, &d->cur)) != 0) {
				ws_decoder_fail(d, res, code);
				return pos;
			}
			/* One data message per call: keep data_opcode
			 * meaningful for the caller. */
			if (d->cur.opcode != WS_OP_CONT &&
			    d->cur.opcode < 0x8 && res->data_len > 0)
				return pos;
			pos += (size_t)hl - had;
			d->hdr_len = 0;
			d->in_frame = true;
			d->done = 0;
			if (d->cur.opcode == WS_OP_TEXT ||
			    d->cur.opcode == WS_OP_BINARY) {
				d->in_message = true;
				d->msg_opcode = d->cur.opcode;
				d->msg_len = 0;
			}
			if (d->cur.len == 0) {
				ws_decoder_end_frame(d, res);
				if (res->ev != WS_EV_NONE)
					return pos;
			}
			continue;
		}
		if (d->cur.opcode >= 0x8) {
			n = (size_t)(d->cur.len - d->done);
			if (n > len - pos)
				n = len - pos;
			memcpy(d->ctl + d->done, in + pos, n);
			d->done += n;
			pos += n;
			if (d->done == d->cur.len) {
				ws_decoder_end_frame(d, res);
				return pos;
			}
			continue;
		}
		if (d->cur.len - d->done < (uint64_t)(len - pos))
			n = (size_t)(d->cur.len - d->done);
		else
			n = len - pos;
		if (n > outcap - res->data_len)
			n = outcap - res->data_len;
		if (n == 0)
			return pos;		/* out is full */
		memcpy(out + res->data_len, in + pos, n);
		ws_frame_mask(out + res->data_len, n, d->cur.mask, d->done);
		res->data_len += n;
		res->data_opcode = d->msg_opcode;
		d->done += n;
		d->msg_len += n;
		pos += n;
		if (d->done == d->cur.len)
			ws_decoder_end_frame(d, res);
	}
	return pos;
}

bool
ws_decoder_idle(const struct ws_decoder *d)
{
	return !d->failed && !d->in_frame && !d->in_message &&
	    d->hdr_len == 0;
}
