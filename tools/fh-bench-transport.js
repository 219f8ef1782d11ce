#!/usr/bin/env node
// fh-bench-transport: fan-out over any listener kind (mqtt, mqtts, ws,
// wss) with MQTT.js, so that transports can be compared with one client.
// 1 publisher -> N subscribers of one topic, M messages, closed loop (at
// most W messages published but not yet seen by every subscriber), QoS 0.
// Bounded in count and time; loopback only.
//
//   node tools/fh-bench-transport.js --url ws://127.0.0.1:8080/mqtt \
//       [--pub-url mqtt://127.0.0.1:1883] [--ca ca.pem] [--subs 50]
//       [--msgs 20000] [--size 256] [--window 200]
// The subscribers use --url; the publisher uses --pub-url (default: the
// same). Publishing over plain TCP measures the fan-out side alone
// (MQTT.js over ws sends every packet as several frames, and over wss
// as several TLS records, which costs the broker a read each).
//
// Last line: RESULT url=... subs=N msgs=M delivered=D secs=S rate=R/s
//            p50_ms=.. p99_ms=..
// MQTT.js comes from tests/integration/node (npm ci there).
'use strict';
const fs = require('fs');
const path = require('path');
const mqtt = require(path.join(__dirname, '..', 'tests', 'integration',
    'node', 'node_modules', 'mqtt'));

const args = { url: 'mqtt://127.0.0.1:1883', 'pub-url': null, ca: null,
	subs: 50,
	msgs: 20000, size: 256, window: 200, timeout: 120 };
for (let i = 2; i < process.argv.length; i += 2) {
	const k = process.argv[i].replace(/^--/, '');
	if (!(k in args)) {
		console.error('unknown option ' + process.argv[i]);
		process.exit(2);
	}
	args[k] = ['url', 'pub-url', 'ca'].includes(k) ? process.argv[i + 1] :
	    parseInt(process.argv[i + 1], 10);
}
args['pub-url'] = args['pub-url'] || args.url;
for (const u of [args.url, args['pub-url']]) {
	if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(
	    new URL(u).hostname)) {
		console.error('loopback only');
		process.exit(2);
	}
}
const opts = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 20000,
	ca: args.ca ? fs.readFileSync(args.ca) : undefined };
const topic = 'bench/' + process.pid;
const seen = new Map();		// seq -> subscribers that got it
const lat = [];
let delivered = 0, published = 0, done = 0, t0 = 0;
let pub;

setTimeout(() => {
	console.error('timeout: messages were lost (QoS 0 drops?)');
	if (t0)
		finish();
	process.exit(1);
}, args.timeout * 1000);

function finish() {
	const secs = Number(process.hrtime.bigint() - t0) / 1e9;
	lat.sort((a, b) => a - b);
	const pct = (p) => lat.length ?
	    lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0;
	console.log(['RESULT', 'url=' + args.url, 'pub=' + args['pub-url'],
	    'subs=' + args.subs,
	    'msgs=' + args.msgs, 'size=' + args.size,
	    'delivered=' + delivered, 'secs=' + secs.toFixed(3),
	    'rate=' + Math.round(delivered / secs) + '/s',
	    'p50_ms=' + pct(0.5).toFixed(3), 'p99_ms=' + pct(0.99).toFixed(3)]
	    .join(' '));
	process.exit(delivered === args.subs * args.msgs ? 0 : 1);
}

function pump() {
	while (published < args.msgs && published - done < args.window) {
		const b = Buffer.alloc(Math.max(16, args.size));
		b.writeUInt32BE(published, 0);
		b.writeBigUInt64BE(process.hrtime.bigint(), 8);
		pub.publish(topic, b, { qos: 0 });
		published++;
	}
}

function onMessage(t, p) {
	const seq = p.readUInt32BE(0);
	lat.push(Number(process.hrtime.bigint() - p.readBigUInt64BE(8)) / 1e6);
	delivered++;
	const n = (seen.get(seq) || 0) + 1;
	if (n === args.subs) {
		seen.delete(seq);
		done++;
		if (done === args.msgs)
			return finish();
		pump();
	} else
		seen.set(seq, n);
}

let ready = 0;
for (let i = 0; i < args.subs; i++) {
	const c = mqtt.connect(args.url, opts);
	c.on('error', (e) => {
		console.error('subscriber: ' + e.message);
		process.exit(1);
	});
	c.on('message', onMessage);
	c.on('connect', () => c.subscribe(topic, { qos: 0 }, () => {
		if (++ready === args.subs) {
			pub = mqtt.connect(args['pub-url'], opts);
			pub.on('connect', () => {
				t0 = process.hrtime.bigint();
				pump();
			});
		}
	}));
}
