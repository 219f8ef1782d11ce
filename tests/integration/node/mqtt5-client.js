// MQTT.js with protocolVersion 5 against a test firehosed: a subscriber
// with a subscription identifier, a publisher with user properties and
// a content type; the message must arrive with them. Prints one JSON line
// and exits 0 on success.
//   node mqtt5-client.js URL
'use strict';
const mqtt = require('mqtt');

const url = process.argv[2];
const topic = 'mqttjs5/' + process.pid;
const opts = { protocolVersion: 5, reconnectPeriod: 0,
	connectTimeout: 10000 };

function fail(why) {
	console.log(JSON.stringify({ ok: false, why }));
	process.exit(1);
}
setTimeout(() => fail('timeout'), 30000);

const sub = mqtt.connect(url, opts);
sub.on('error', (e) => fail('sub: ' + e.message));
sub.on('message', (t, payload, packet) => {
	const p = packet.properties || {};
	const u = p.userProperties || {};
	if (t !== topic || payload.toString() !== 'five')
		fail('message: ' + t + ' ' + payload.toString());
	if (u.k !== 'v' || p.contentType !== 'text/plain')
		fail('properties: ' + JSON.stringify(p));
	const ids = [].concat(p.subscriptionIdentifier || []);
	if (ids.length !== 1 || ids[0] !== 7)
		fail('subscription identifier: ' + JSON.stringify(p));
	console.log(JSON.stringify({ ok: true }));
	sub.end(true);
	pub.end(true);
	process.exit(0);
});
let pub;
sub.on('connect', () => {
	sub.subscribe(topic, { qos: 1, properties:
	    { subscriptionIdentifier: 7 } }, (err, granted) => {
		if (err || granted[0].qos !== 1)
			fail('subscribe: ' + (err ? err.message :
			    JSON.stringify(granted)));
		pub = mqtt.connect(url, opts);
		pub.on('error', (e) => fail('pub: ' + e.message));
		pub.on('connect', () => {
			pub.publish(topic, 'five', { qos: 1, properties: {
			    userProperties: { k: 'v' },
			    contentType: 'text/plain' } });
		});
	});
});
