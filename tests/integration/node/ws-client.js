// MQTT.js over ws/wss against a test firehosed: one subscriber, one
// publisher, a ~1 MB message then a burst of small ones; every message
// must arrive, in order, intact. Prints one JSON line and exits 0 on
// success.
//   node ws-client.js URL [CA_FILE] [COUNT]
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const mqtt = require('mqtt');

const url = process.argv[2];
const ca = process.argv[3] && process.argv[3] !== '-' ?
	fs.readFileSync(process.argv[3]) : undefined;
const count = parseInt(process.argv[4] || '10000', 10);
const topic = 'mqttjs/' + process.pid;
const big = crypto.randomBytes(1000000);
const opts = { ca, protocolVersion: 4, reconnectPeriod: 0,
	connectTimeout: 10000 };

function fail(why) {
	console.log(JSON.stringify({ ok: false, why }));
	process.exit(1);
}
setTimeout(() => fail('timeout: got ' + got + ' of ' + (count + 1)), 60000);

let got = 0;
const sub = mqtt.connect(url, opts);
sub.on('error', (e) => fail('sub: ' + e.message));
sub.on('message', (t, payload) => {
	if (got === 0) {
		if (t !== topic + '/big' || !payload.equals(big))
			fail('big message wrong: ' + t + ' ' + payload.length);
	} else {
		const want = 'm' + (got - 1);
		if (t !== topic + '/small' || payload.toString() !== want)
			fail('message ' + got + ': ' + payload.toString() +
			    ' want ' + want);
	}
	got++;
	if (got === count + 1) {
		console.log(JSON.stringify({ ok: true, got }));
		sub.end(true);
		pub.end(true);
		process.exit(0);
	}
});
let pub;
sub.on('connect', () => {
	sub.subscribe(topic + '/#', { qos: 1 }, (err) => {
		if (err)
			fail('subscribe: ' + err.message);
		pub = mqtt.connect(url, opts);
		pub.on('error', (e) => fail('pub: ' + e.message));
		pub.on('connect', () => {
			pub.publish(topic + '/big', big, { qos: 1 });
			for (let i = 0; i < count; i++)
				pub.publish(topic + '/small', 'm' + i,
				    { qos: 1 });
		});
	});
});
