// A subscribe-only MQTT 3.1.1 client over WebSocket, for the live page.
//
// It speaks just what a watcher needs: CONNECT (clean session, anonymous
// or user/password), SUBSCRIBE/UNSUBSCRIBE, PUBLISH in (QoS 0, 1 and 2
// acknowledged as the spec requires), PINGREQ keepalive, DISCONNECT. It
// never publishes. One WebSocket message may hold several MQTT packets or a
// part of one (MQTT-6.0.0-2 lets the server split them anywhere), so input
// goes through a byte stream reassembler.
'use strict';

const FhMqtt = (() => {
	const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5,
	    PUBREL = 6, PUBCOMP = 7, SUBSCRIBE = 8, SUBACK = 9,
	    UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13,
	    DISCONNECT = 14;
	// The largest packet accepted; anything bigger is a broken stream.
	const MAX_PACKET = 64 * 1024 * 1024;
	const CONNACK_WHY = ['accepted', 'unacceptable protocol version',
	    'identifier rejected', 'server unavailable',
	    'bad user name or password', 'not authorized'];
	const enc = new TextEncoder();
	const dec = new TextDecoder('utf-8');

	function utf8(s) {
		const b = enc.encode(s);
		if (b.length > 65535)
			throw new Error('string too long for MQTT');
		const out = new Uint8Array(2 + b.length);
		out[0] = b.length >> 8;
		out[1] = b.length & 255;
		out.set(b, 2);
		return out;
	}

	function packet(type, flags, parts) {
		let n = 0;
		for (const p of parts)
			n += p.length;
		const len = [];
		let x = n;
		do {
			let d = x % 128;
			x = Math.floor(x / 128);
			if (x > 0)
				d |= 128;
			len.push(d);
		} while (x > 0);
		const out = new Uint8Array(1 + len.length + n);
		out[0] = (type << 4) | flags;
		out.set(len, 1);
		let o = 1 + len.length;
		for (const p of parts) {
			out.set(p, o);
			o += p.length;
		}
		return out;
	}

	function u16(v) {
		return new Uint8Array([v >> 8, v & 255]);
	}

	// Concatenated bytes in, whole packets out.
	class Reader {
		constructor() {
			this.buf = new Uint8Array(0);
		}

		push(chunk) {
			const n = this.buf.length + chunk.length;
			const b = new Uint8Array(n);
			b.set(this.buf, 0);
			b.set(chunk, this.buf.length);
			this.buf = b;
		}

		// {type, flags, body}, or null when incomplete; throws
		// when broken.
		next() {
			const b = this.buf;
			if (b.length < 2)
				return null;
			let n = 0, mult = 1, i = 1;
			for (;;) {
				if (i >= b.length)
					return null;
				if (i > 4)
					throw new Error('bad remaining length');
				const d = b[i++];
				n += (d & 127) * mult;
				mult *= 128;
				if (!(d & 128))
					break;
			}
			if (n > MAX_PACKET)
				throw new Error('packet too large');
			if (b.length < i + n)
				return null;
			const p = { type: b[0] >> 4, flags: b[0] & 15,
			    body: b.subarray(i, i + n) };
			this.buf = b.slice(i + n);
			return p;
		}
	}

	// Does an MQTT filter match a topic (MQTT-4.7)? '$' topics only
	// by filters that spell the '$' level out (MQTT-4.7.2-1).
	function matches(filter, topic) {
		const f = filter.split('/'), t = topic.split('/');
		if (t[0].startsWith('$') && (f[0] === '#' || f[0] === '+'))
			return false;
		for (let i = 0; i < f.length; i++) {
			if (f[i] === '#')
				return true;
			if (i >= t.length)
				return false;
			if (f[i] !== '+' && f[i] !== t[i])
				return false;
		}
		return f.length === t.length;
	}

	// A filter the broker will accept (MQTT-4.7.1).
	function validFilter(f) {
		if (f.length === 0 || enc.encode(f).length > 65535 ||
		    f.indexOf('\u0000') >= 0)
			return false;
		const lv = f.split('/');
		for (let i = 0; i < lv.length; i++) {
			if (lv[i].indexOf('#') >= 0 &&
			    (lv[i] !== '#' || i !== lv.length - 1))
				return false;
			if (lv[i].indexOf('+') >= 0 && lv[i] !== '+')
				return false;
		}
		return true;
	}

	// opts: url, clientId, username, password, keepalive (s), and the
	// callbacks onState(state, why), onMessage(topic, payloadBytes,
	// {qos, retain, dup}), onSuback(filter, grantedQos).
	class Client {
		constructor(opts) {
			this.o = Object.assign({ keepalive: 30,
			    onState() {}, onMessage() {}, onSuback() {} },
			    opts);
			this.ws = null;
			this.state = 'idle';
			this.mid = 0;
			this.pending = new Map();	// mid -> {kind, filter}
			this.qos2 = new Set();	// PUBREC sent, no PUBREL
			this.timer = null;
			this.lastIn = 0;
			this.retry = 1000;
			this.stopped = false;
			this.wanted = new Set();	// filters to keep
		}

		set(state, why) {
			this.state = state;
			this.o.onState(state, why || '');
		}

		start() {
			this.stopped = false;
			this.open();
		}

		open() {
			this.set('connecting');
			let ws;
			try {
				ws = new WebSocket(this.o.url, ['mqtt']);
			} catch (e) {
				this.lost('bad URL: ' + e.message);
				return;
			}
			ws.binaryType = 'arraybuffer';
			this.ws = ws;
			this.reader = new Reader();
			ws.onopen = () => this.sendConnect();
			ws.onmessage = (m) => this.input(m.data);
			ws.onclose = (e) => {
				if (this.ws === ws)
					this.lost('closed' + (e.code ?
					    ' (' + e.code + ')' : ''));
			};
			ws.onerror = () => {};	// onclose follows with the code
		}

		send(bytes) {
			if (this.ws && this.ws.readyState === WebSocket.OPEN)
				this.ws.send(bytes);
		}

		sendConnect() {
			const o = this.o;
			let flags = 0x02;	// clean session
			const parts = [utf8('MQTT'), new Uint8Array([4, 0]),
			    u16(o.keepalive), utf8(o.clientId)];
			if (o.username) {
				flags |= 0x80;
				parts.push(utf8(o.username));
				if (o.password) {
					flags |= 0x40;
					parts.push(utf8(o.password));
				}
			}
			parts[1][1] = flags;
			this.send(packet(CONNECT, 0, parts));
			this.lastIn = Date.now();
			clearInterval(this.timer);
			// Ping at half the keepalive; a server silent for 1.5
			// keepalives is gone (MQTT-3.1.2-24 is its side).
			this.timer = setInterval(() => {
				if (Date.now() - this.lastIn >
				    1500 * o.keepalive) {
					this.drop('keepalive timeout');
					return;
				}
				this.send(packet(PINGREQ, 0, []));
			}, 500 * o.keepalive);
		}

		// The connection is gone: retry with a capped backoff.
		lost(why) {
			clearInterval(this.timer);
			this.timer = null;
			this.ws = null;
			this.pending.clear();
			this.qos2.clear();
			if (this.stopped) {
				this.set('stopped', why);
				return;
			}
			this.set('disconnected', why);
			setTimeout(() => {
				if (!this.stopped && this.ws === null)
					this.open();
			}, this.retry);
			this.retry = Math.min(this.retry * 2, 30000);
		}

		drop(why) {
			const ws = this.ws;
			this.ws = null;
			if (ws)
				ws.close();
			this.lost(why);
		}

		stop() {
			this.stopped = true;
			if (this.ws) {
				this.send(packet(DISCONNECT, 0, []));
				this.drop('stopped');
			}
		}

		nextMid() {
			this.mid = this.mid % 65535 + 1;
			return this.mid;
		}

		subscribe(filter) {
			this.wanted.add(filter);
			if (this.state !== 'connected')
				return;	// sent on CONNACK
			const mid = this.nextMid();
			this.pending.set(mid, { kind: 'sub', filter });
			this.send(packet(SUBSCRIBE, 2, [u16(mid), utf8(filter),
			    new Uint8Array([0])]));
		}

		unsubscribe(filter) {
			this.wanted.delete(filter);
			if (this.state !== 'connected')
				return;
			const mid = this.nextMid();
			this.pending.set(mid, { kind: 'unsub', filter });
			this.send(packet(UNSUBSCRIBE, 2, [u16(mid),
			    utf8(filter)]));
		}

		input(data) {
			this.lastIn = Date.now();
			this.reader.push(new Uint8Array(data));
			try {
				let p;
				while (this.ws !== null &&
				    (p = this.reader.next()) !== null)
					this.handle(p);
			} catch (e) {
				this.drop('protocol error: ' + e.message);
			}
		}

		handle(p) {
			const b = p.body;
			const mid = b.length >= 2 ? (b[0] << 8) | b[1] : 0;

			switch (p.type) {
			case CONNACK:
				if (b.length !== 2)
					throw new Error('bad CONNACK');
				if (b[1] !== 0) {
					this.stopped = true;
					this.drop('refused: ' +
					    (CONNACK_WHY[b[1]] || b[1]));
					return;
				}
				this.retry = 1000;
				this.set('connected');
				for (const f of this.wanted)
					this.subscribe(f);
				break;
			case PUBLISH:
				this.publishIn(p);
				break;
			case PUBREL:
				this.qos2.delete(mid);
				this.send(packet(PUBCOMP, 0, [u16(mid)]));
				break;
			case SUBACK: {
				const s = this.pending.get(mid);
				this.pending.delete(mid);
				if (s && s.kind === 'sub')
					this.o.onSuback(s.filter,
					    b.length > 2 ? b[2] : 0x80);
				break;
			}
			case UNSUBACK:
				this.pending.delete(mid);
				break;
			case PINGRESP:
				break;
			default:
				throw new Error('unexpected packet type ' +
				    p.type);
			}
		}

		publishIn(p) {
			const b = p.body, qos = (p.flags >> 1) & 3;
			if (qos === 3 || b.length < 2)
				throw new Error('bad PUBLISH');
			const tl = (b[0] << 8) | b[1];
			let o = 2 + tl;
			if (b.length < o + (qos ? 2 : 0))
				throw new Error('bad PUBLISH');
			const topic = dec.decode(b.subarray(2, o));
			let mid = 0;
			if (qos) {
				mid = (b[o] << 8) | b[o + 1];
				o += 2;
			}
			const info = { qos, retain: !!(p.flags & 1),
			    dup: !!(p.flags & 8) };
			if (qos === 1)
				this.send(packet(PUBACK, 0, [u16(mid)]));
			if (qos === 2) {
				this.send(packet(PUBREC, 0, [u16(mid)]));
				if (this.qos2.has(mid))
					return;	// a resend: delivered once
				this.qos2.add(mid);
			}
			this.o.onMessage(topic, b.slice(o), info);
		}
	}

	return { Client, matches, validFilter };
})();
