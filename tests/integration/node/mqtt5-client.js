// MQTT.js with protocolVersion 5 against a test firehosed: a subscriber
// with a subscription identifier that allows topic aliases, a publisher
// that uses them too (autoUseTopicAlias), user properties and a content
// type; three messages must arrive, topic resolved, properties and the
// identifier on each. Prints one JSON line and exits 0 on success.
//   node mqtt5-client.js URL
'use strict';
const mqtt = require('mqtt');

const url = process.argv[2];
const topic = 'mqttjs5/' + process.pid;
const base = { protocolVersion: 5, reconnectPeriod: 0,
	connectTimeout: 10000 };
const N = 3;

function fail(why) {
	console.log(JSON.stringify({ ok: false, why }));
	process.exit(1);
}
setTimeout(() => fail('timeout'), 30000);

let got = 0, aliased = 0;
const sub = mqtt.connect(url, Object.assign({}, base,
    { properties: { topicAliasMaximum: 4 } }));
sub.on('error', (e) => fail('sub: ' + e.message));
sub.on('packetreceive', (packet) => {
	if (packet.cmd === 'publish' && packet.properties &&
	    packet.properties.topicAlias)
		aliased++;
});
sub.on('message', (t, payload, packet) => {
	const p = packet.properties || {};
	const u = p.userProperties || {};
	if (t !== topic || payload.toString() !== 'five' + got)
		fail('message: ' + t + ' ' + payload.toString());
	if (u.k !== 'v' || p.contentType !== 'text/plain')
		fail('properties: ' + JSON.stringify(p));
	const ids = [].concat(p.subscriptionIdentifier || []);
	if (ids.length !== 1 || ids[0] !== 7)
		fail('subscription identifier: ' + JSON.stringify(p));
	if (++got < N)
		return;
	if (aliased !== N)
		fail('topic alias on ' + aliased + ' of ' + N);
	console.log(JSON.stringify({ ok: true, got, aliased }));
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
		pub = mqtt.connect(url, Object.assign({}, base,
		    { autoUseTopicAlias: true }));
		pub.on('error', (e) => fail('pub: ' + e.message));
		pub.on('connect', () => {
			for (let i = 0; i < N; i++)
				pub.publish(topic, 'five' + i, { qos: 1,
				    properties: { userProperties: { k: 'v' },
				    contentType: 'text/plain' } });
		});
	});
});
