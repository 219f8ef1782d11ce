// Unit tests of the live page's MQTT client (sinks/log/page/mqtt.js), run
// by node: the packet reassembler on every split of a byte stream, the
// remaining-length bounds, the packets the client writes (byte-exact), and
// topic matching. The browser side: tests/integration/88-log-page.py.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const src = path.join(process.env.top_srcdir || '.', 'sinks', 'log', 'page',
    'mqtt.js');

// A fake WebSocket that records what the client sends.
class FakeWS {
	constructor(url, protocols) {
		this.url = url;
		this.protocols = protocols;
		this.readyState = FakeWS.OPEN;
		this.sent = [];
		FakeWS.last = this;
	}

	send(b) {
		this.sent.push(Buffer.from(b).toString('hex'));
	}

	close() {
		this.readyState = 3;
	}
}
FakeWS.OPEN = 1;

const timers = [];
const ctx = vm.createContext({ TextEncoder, TextDecoder, Date, Math, Map,
    Set, Uint8Array, Error, WebSocket: FakeWS,
    setInterval: (f, ms) => timers.push([f, ms]),
    clearInterval: () => {}, setTimeout: () => {} });
const M = vm.runInContext(fs.readFileSync(src, 'utf8') + '\nFhMqtt;', ctx);

let failed = 0, passed = 0;
function test(name, fn) {
	try {
		fn();
		passed++;
		console.log('PASS: ' + name);
	} catch (e) {
		failed++;
		console.log('FAIL: ' + name + ': ' + e.stack);
	}
}

const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/ /g, ''), 'hex'));

// A client past CONNACK, its messages collected.
function connected(extra) {
	const got = [];
	const c = new M.Client(Object.assign({ url: 'ws://h/mqtt',
	    clientId: 'cid', onMessage: (t, p, i) => got.push([t,
	    Buffer.from(p).toString(), i.qos, i.retain]) }, extra || {}));
	c.start();
	const ws = FakeWS.last;
	ws.onopen();
	ws.onmessage({ data: hex('20 02 00 00').buffer });
	assert.strictEqual(c.state, 'connected');
	return { c, ws, got };
}

test('CONNECT is byte-exact (clean session, keepalive, id)', () => {
	const c = new M.Client({ url: 'ws://h/mqtt', clientId: 'cid',
	    keepalive: 30 });
	c.start();
	const ws = FakeWS.last;
	assert.deepStrictEqual([...ws.protocols], ['mqtt']);
	ws.onopen();
	assert.deepStrictEqual(ws.sent, ['100f00044d5154540402001e0003636964']);
});

test('CONNECT with user name and password', () => {
	const c = new M.Client({ url: 'ws://h/mqtt', clientId: 'c',
	    keepalive: 60, username: 'u', password: 'p' });
	c.start();
	FakeWS.last.onopen();
	assert.deepStrictEqual(FakeWS.last.sent,
	    ['101300044d51545404c2003c000163000175000170']);
});

test('SUBSCRIBE after CONNACK, QoS 0; UNSUBSCRIBE', () => {
	const c = new M.Client({ url: 'ws://h/mqtt', clientId: 'c' });
	c.subscribe('a/#');
	c.start();
	const ws = FakeWS.last;
	ws.onopen();
	ws.sent = [];
	ws.onmessage({ data: hex('20 02 00 00').buffer });
	// 82 08, mid 1, "a/#", QoS 0
	assert.deepStrictEqual(ws.sent, ['820800010003612f2300']);
	c.unsubscribe('a/#');
	// a2 07, mid 2, "a/#"
	assert.deepStrictEqual(ws.sent.slice(1), ['a20700020003612f23']);
});

test('a refused CONNACK stops retrying and says why', () => {
	const states = [];
	const c = new M.Client({ url: 'ws://h/mqtt', clientId: 'c',
	    onState: (s, w) => states.push(s + ':' + w) });
	c.start();
	FakeWS.last.onopen();
	FakeWS.last.onmessage({ data: hex('20 02 00 05').buffer });
	assert.strictEqual(c.state, 'stopped');
	assert.ok(states.pop().includes('not authorized'), states);
});

// PUBLISHes (QoS 0; a 200-byte payload, whose remaining length takes two
// bytes; QoS 1 retained), a PINGRESP, one more PUBLISH.
const big = 'x'.repeat(200);
function pub(flags, topic, mid, payload) {
	const t = Buffer.from(topic), p = Buffer.from(payload);
	const body = Buffer.concat([Buffer.from([t.length >> 8,
	    t.length & 255]), t, mid === null ? Buffer.alloc(0) :
	    Buffer.from([mid >> 8, mid & 255]), p]);
	const len = [];
	let n = body.length;
	do {
		let d = n % 128;
		n = Math.floor(n / 128);
		if (n)
			d |= 128;
		len.push(d);
	} while (n);
	return Buffer.concat([Buffer.from([0x30 | flags]), Buffer.from(len),
	    body]);
}
function stream() {
	// The first one by hand: 30 08, topic "a/bc", payload "hi".
	return Buffer.concat([Buffer.from('300800046' + '12f62636869', 'hex'),
	    pub(0, 'c/d', null, big), pub(3, 'b', 7, 'z'),
	    Buffer.from('d000', 'hex'), pub(0, 'e', null, 'end')]);
}
const want = [['a/bc', 'hi', 0, false], ['c/d', big, 0, false],
    ['b', 'z', 1, true], ['e', 'end', 0, false]];

test('packets whole, in one message', () => {
	const { ws, got } = connected();
	ws.sent = [];
	ws.onmessage({ data: Uint8Array.from(stream()).buffer });
	assert.deepStrictEqual(got, want);
	assert.deepStrictEqual(ws.sent, ['40020007']);	// PUBACK 7
});

test('packets split at every byte boundary', () => {
	const s = stream();
	for (let cut = 1; cut < s.length; cut++) {
		const { ws, got } = connected();
		ws.onmessage({ data: Uint8Array.from(s.subarray(0, cut))
		    .buffer });
		ws.onmessage({ data: Uint8Array.from(s.subarray(cut))
		    .buffer });
		assert.deepStrictEqual(got, want, 'cut at ' + cut);
	}
});

test('one byte per message', () => {
	const { ws, got } = connected();
	for (const b of stream())
		ws.onmessage({ data: Uint8Array.from([b]).buffer });
	assert.deepStrictEqual(got, want);
});

test('a five-byte remaining length is a protocol error', () => {
	const { c, ws, got } = connected();
	// A PINGRESP whose length (0) takes five bytes: MQTT allows four.
	ws.onmessage({ data: hex('d0 80 80 80 80 00').buffer });
	assert.strictEqual(c.state, 'disconnected');
	assert.deepStrictEqual(got, []);
});

test('an unexpected packet type is a protocol error', () => {
	const { c, ws } = connected();
	ws.onmessage({ data: hex('10 00').buffer });	// CONNECT from server
	assert.strictEqual(c.state, 'disconnected');
});

test('QoS 2 in: PUBREC, once only, PUBCOMP on PUBREL', () => {
	const { ws, got } = connected();
	ws.sent = [];
	const p = hex('34 06 0001 61 0009 7a');	// QoS 2, "a", mid 9, "z"
	ws.onmessage({ data: p.buffer });
	ws.onmessage({ data: hex('3c 06 0001 61 0009 7a').buffer }); // DUP
	ws.onmessage({ data: hex('62 02 0009').buffer });	// PUBREL
	assert.strictEqual(got.length, 1);
	assert.deepStrictEqual(ws.sent, ['50020009', '50020009',
	    '70020009']);
});

test('topic matching (MQTT 4.7)', () => {
	const yes = [['#', 'a'], ['#', 'a/b/c'], ['a/#', 'a'], ['a/#', 'a/b'],
	    ['+', 'a'], ['a/+', 'a/b'], ['+/+', '/x'], ['a/+/c', 'a/b/c'],
	    ['$SYS/#', '$SYS/broker'], ['a//b', 'a//b'], ['+/#', 'a']];
	const no = [['a', 'b'], ['a/+', 'a'], ['a/+', 'a/b/c'], ['+', 'a/b'],
	    ['#', '$SYS/x'], ['+/x', '$SYS/x'], ['a/b', 'a'], ['a', 'a/b']];
	for (const [f, t] of yes)
		assert.ok(M.matches(f, t), f + ' ' + t);
	for (const [f, t] of no)
		assert.ok(!M.matches(f, t), f + ' ' + t);
});

test('filter validity', () => {
	for (const f of ['#', 'a/#', '+', 'a/+/b', '$SYS/#', '/'])
		assert.ok(M.validFilter(f), f);
	for (const f of ['', 'a#', 'a/#/b', 'a+', '+a/b', 'a/b#', 'a\u0000'])
		assert.ok(!M.validFilter(f), JSON.stringify(f));
});

test('keepalive: PINGREQ at half the interval', () => {
	timers.length = 0;
	const { ws } = connected({ keepalive: 10 });
	assert.strictEqual(timers[timers.length - 1][1], 5000);
	ws.sent = [];
	timers[timers.length - 1][0]();
	assert.deepStrictEqual(ws.sent, ['c000']);
});

console.log('cases: ' + passed + ' passed, ' + failed + ' failed, 0 skipped');
process.exit(failed ? 1 : 0);
