// The live page: events as the broker delivers them over MQTT-over-WebSocket,
// a topic filter, pause, per-source colours and counts, an event's JSON on
// click, and the last hour from the event log (GET v1/events).
//
// Everything from the network is shown through textContent, never parsed as
// HTML; the Content-Security-Policy forbids inline script and style anyway.
'use strict';

(() => {
	const SOURCES = ['gerrit', 'launchpad', 'ansible', 'gearman-subunit'];
	// Bounds: rows kept on the page, events held while paused, events asked
	// of the log in one request, and requests for one "last hour".
	const MAX_ROWS = 1000;
	const MAX_HELD = 1000;
	const HISTORY_LIMIT = 1000;
	const HISTORY_PAGES = 100;
	const PREVIEW = 160;

	const $ = (id) => document.getElementById(id);
	const q = new URLSearchParams(location.search);
	const ui = {
		form: $('filter-form'), filter: $('filter'), pause: $('pause'),
		history: $('history'), clear: $('clear'), conn: $('conn'),
		counts: $('counts'), notice: $('notice'), rows: $('rows'),
		empty: $('empty'), pane: $('detail-pane'),
		dtopic: $('detail-topic'), dmeta: $('detail-meta'),
		detail: $('detail'), dclose: $('detail-close'),
	};

	let filter = q.get('filter') || '#';
	let events = [];		// newest first, at most MAX_ROWS
	let held = [];			// arrived while paused, oldest first
	let heldDropped = 0;
	let paused = false;
	let nextId = 1;
	let selected = null;
	const counts = {};

	const utf8 = new TextDecoder('utf-8', { fatal: true });

	function sourceOf(topic) {
		const first = topic.split('/', 1)[0];
		return SOURCES.indexOf(first) >= 0 ? first : 'other';
	}

	// Bytes -> {text, json, binary}. json is undefined unless the payload
	// parses as JSON.
	function decodePayload(bytes) {
		let text;
		try {
			text = utf8.decode(bytes);
		} catch (e) {
			return { text: null, json: undefined, binary: bytes };
		}
		let json;
		try {
			json = JSON.parse(text);
		} catch (e) {
			json = undefined;
		}
		return { text, json, binary: null };
	}

	function base64Bytes(s) {
		const bin = atob(s);
		const b = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++)
			b[i] = bin.charCodeAt(i);
		return b;
	}

	function hex(bytes, max) {
		const out = [];
		for (let i = 0; i < bytes.length && i < max; i++)
			out.push(bytes[i].toString(16).padStart(2, '0'));
		return out.join(' ') + (bytes.length > max ? ' \u2026' : '');
	}

	// The log's time: seconds or milliseconds since the epoch, or text.
	function parseTime(t) {
		if (typeof t === 'number')
			return t < 1e11 ? t * 1000 : t;
		const ms = Date.parse(t);
		return isNaN(ms) ? Date.now() : ms;
	}

	function isoSeconds(ms) {
		return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
	}

	// What identifies an event whatever path it came by: its topic and
	// its payload, JSON put in one canonical form.
	function keyOf(ev) {
		const body = ev.json !== undefined ? JSON.stringify(ev.json) :
		    ev.text !== null ? 't' + ev.text :
		    'b' + hex(ev.binary, 1e9);
		return ev.topic + '\n' + body;
	}

	function preview(ev) {
		let s;
		if (ev.json !== undefined)
			s = JSON.stringify(ev.json);
		else if (ev.text !== null)
			s = ev.text;
		else
			return '(' + ev.binary.length + ' bytes binary) ' +
			    hex(ev.binary, 16);
		return s.length > PREVIEW ? s.slice(0, PREVIEW) + '\u2026' : s;
	}

	function makeRow(ev) {
		const tr = document.createElement('tr');
		tr.className = 'ev src-' + ev.source;
		tr.dataset.id = ev.id;
		tr.dataset.topic = ev.topic;
		tr.dataset.source = ev.source;
		tr.tabIndex = 0;
		const t = document.createElement('td');
		t.className = 't';
		t.textContent = isoSeconds(ev.time).slice(11);
		t.title = isoSeconds(ev.time);
		const topic = document.createElement('td');
		topic.className = 'topic';
		topic.textContent = ev.topic;
		if (ev.retain || ev.replayed) {
			const tag = document.createElement('span');
			tag.className = 'tag';
			tag.textContent = ev.retain ? 'retained' : 'log';
			topic.appendChild(tag);
		}
		const p = document.createElement('td');
		p.className = 'payload';
		p.textContent = preview(ev);
		tr.append(t, topic, p);
		if (!FhMqtt.matches(filter, ev.topic))
			tr.hidden = true;
		if (selected === ev)
			tr.classList.add('selected');
		return tr;
	}

	function showCounts() {
		for (const el of ui.counts.querySelectorAll('.count'))
			el.querySelector('b').textContent =
			    counts[el.dataset.source] || 0;
	}

	function showEmpty() {
		const any = events.some((ev) => FhMqtt.matches(filter,
		    ev.topic));
		ui.empty.hidden = any;
		ui.empty.textContent = events.length === 0 ?
		    'Waiting for events\u2026' : 'No event matches ' + filter;
	}

	function notice(s) {
		ui.notice.textContent = s;
	}

	function trim() {
		while (events.length > MAX_ROWS) {
			const ev = events.pop();
			if (ev.row)
				ev.row.remove();
		}
	}

	function add(ev) {
		counts[ev.source] = (counts[ev.source] || 0) + 1;
		ev.row = makeRow(ev);
		events.unshift(ev);
		ui.rows.insertBefore(ev.row, ui.rows.firstChild);
		trim();
	}

	function live(topic, bytes, info) {
		if (!FhMqtt.matches(filter, topic))
			return;	// from a filter just replaced
		const ev = Object.assign({ id: nextId++, seq: null,
		    time: Date.now(), topic, source: sourceOf(topic),
		    retain: info.retain, replayed: false },
		    decodePayload(bytes));
		if (paused) {
			held.push(ev);
			if (held.length > MAX_HELD) {
				held.shift();
				heldDropped++;
			}
			notice('paused: ' + held.length + ' held' +
			    (heldDropped ? ', ' + heldDropped + ' dropped' :
			    ''));
			return;
		}
		add(ev);
		showCounts();
		showEmpty();
	}

	function setPaused(p) {
		paused = p;
		ui.pause.textContent = p ? 'Resume' : 'Pause';
		ui.pause.setAttribute('aria-pressed', String(p));
		document.body.classList.toggle('paused', p);
		if (p) {
			notice('paused');
			return;
		}
		const n = held.length;
		for (const ev of held)
			add(ev);
		notice(n ? 'resumed: ' + n + ' held events shown' +
		    (heldDropped ? ', ' + heldDropped + ' dropped' : '') : '');
		held = [];
		heldDropped = 0;
		showCounts();
		showEmpty();
	}

	function setFilter(f) {
		if (!FhMqtt.validFilter(f)) {
			ui.filter.setCustomValidity('not a valid MQTT filter');
			ui.filter.reportValidity();
			return;
		}
		ui.filter.setCustomValidity('');
		if (f === filter)
			return;
		const old = filter;
		filter = f;
		client.subscribe(f);
		client.unsubscribe(old);
		held = held.filter((ev) => FhMqtt.matches(f, ev.topic));
		for (const ev of events)
			ev.row.hidden = !FhMqtt.matches(f, ev.topic);
		const u = new URL(location.href);
		u.searchParams.set('filter', f);
		history.replaceState(null, '', u);
		showEmpty();
	}

	function select(ev) {
		if (selected && selected.row)
			selected.row.classList.remove('selected');
		selected = ev;
		if (!ev) {
			ui.pane.hidden = true;
			return;
		}
		ev.row.classList.add('selected');
		ui.pane.hidden = false;
		ui.dtopic.textContent = ev.topic;
		ui.dmeta.replaceChildren();
		const meta = [['source', ev.source],
		    ['time', new Date(ev.time).toISOString()],
		    ['seq', ev.seq === null ? '\u2013' : String(ev.seq)],
		    ['via', ev.replayed ? 'event log' : 'live'],
		    ['retained', ev.retain ? 'yes' : 'no']];
		for (const [k, v] of meta) {
			const dt = document.createElement('dt');
			const dd = document.createElement('dd');
			dt.textContent = k;
			dd.textContent = v;
			ui.dmeta.append(dt, dd);
		}
		if (ev.json !== undefined)
			ui.detail.textContent = JSON.stringify(ev.json, null,
			    2);
		else if (ev.text !== null)
			ui.detail.textContent = ev.text;
		else
			ui.detail.textContent = hex(ev.binary, 4096);
		ui.detail.className = ev.json !== undefined ? 'json' : 'text';
	}

	// One logged event (GET v1/events) -> our form.
	function fromLog(o) {
		let p;
		if (o.payload_encoding === 'base64' || o.encoding === 'base64')
			p = decodePayload(base64Bytes(o.payload));
		else if (typeof o.payload_base64 === 'string')
			p = decodePayload(base64Bytes(o.payload_base64));
		else
			p = { text: JSON.stringify(o.payload), json: o.payload,
			    binary: null };
		return Object.assign({ id: nextId++,
		    seq: typeof o.seq === 'number' ? o.seq : null,
		    time: parseTime(o.time), topic: String(o.topic),
		    source: sourceOf(String(o.topic)), retain: !!o.retain,
		    replayed: true }, p);
	}

	// Merge logged events into the list: one that also came live (same
	// topic and payload, not yet matched) is the same event and only gains
	// its seq; the rest take their place by time.
	function merge(logged) {
		const seen = new Set(events.filter((e) => e.seq !== null)
		    .map((e) => e.seq));
		const unmatched = new Map();
		for (const ev of events) {
			if (ev.seq !== null)
				continue;
			const k = keyOf(ev);
			if (!unmatched.has(k))
				unmatched.set(k, []);
			unmatched.get(k).push(ev);
		}
		let added = 0, matched = 0;
		for (const ev of logged) {
			if (ev.seq !== null && seen.has(ev.seq))
				continue;
			const same = unmatched.get(keyOf(ev));
			if (same && same.length > 0) {
				// Oldest live copy first: the log is in order.
				same.pop().seq = ev.seq;
				matched++;
				continue;
			}
			counts[ev.source] = (counts[ev.source] || 0) + 1;
			events.push(ev);
			added++;
		}
		events.sort((a, b) => b.time - a.time ||
		    (b.seq || 0) - (a.seq || 0) || b.id - a.id);
		trim();
		const frag = document.createDocumentFragment();
		for (const ev of events) {
			if (!ev.row)
				ev.row = makeRow(ev);
			frag.appendChild(ev.row);
		}
		ui.rows.replaceChildren(frag);
		showCounts();
		showEmpty();
		return { added, matched };
	}

	// The next page of a paged answer: Link: <URL>; rel="next".
	function nextLink(r) {
		const h = r.headers.get('Link');
		const m = h && /<([^>]*)>\s*;\s*rel="?next"?/.exec(h);
		return m ? new URL(m[1], location.href) : null;
	}

	// since=1h: the daemon's clock decides what the last hour is, not
	// this browser's. The log answers in pages (Link: rel="next"), oldest
	// first; each is merged as it comes and only the newest MAX_ROWS
	// stay, so a busy hour costs time, not memory.
	async function loadHistory() {
		let u = new URL('v1/events', location.href);
		u.searchParams.set('since', '1h');
		u.searchParams.set('topic', filter);
		u.searchParams.set('limit', String(HISTORY_LIMIT));
		ui.history.disabled = true;
		document.body.dataset.history = 'loading';
		notice('loading the last hour\u2026');
		let logged = 0, added = 0, matched = 0, pages = 0;
		try {
			while (u !== null && pages < HISTORY_PAGES) {
				const r = await fetch(u, { headers: {
				    Accept: 'application/json' } });
				if (!r.ok) {
					const why = (await r.text()).trim();
					notice('event log: HTTP ' + r.status +
					    (why ? ': ' + why.slice(0, 200) :
					    ''));
					document.body.dataset.history =
					    'failed';
					return;
				}
				const body = await r.json();
				const list = Array.isArray(body) ? body : [];
				const res = merge(list.map(fromLog));
				logged += list.length;
				added += res.added;
				matched += res.matched;
				pages++;
				u = nextLink(r);
				notice('last hour: ' + logged + ' logged' +
				    (u ? '\u2026' : ''));
			}
			notice('last hour: ' + logged + ' logged, ' + added +
			    ' added, ' + matched + ' already shown' +
			    (u ? ' (stopped after ' + pages + ' pages)' :
			    ''));
			document.body.dataset.history = 'loaded';
		} catch (e) {
			notice('event log: ' + e.message);
			document.body.dataset.history = 'failed';
		} finally {
			ui.history.disabled = false;
		}
	}

	function clearAll() {
		events = [];
		held = [];
		heldDropped = 0;
		for (const k of Object.keys(counts))
			delete counts[k];
		ui.rows.replaceChildren();
		select(null);
		notice('');
		showCounts();
		showEmpty();
	}

	// The MQTT endpoint: the broker's WebSocket path beside this page,
	// or ?mqtt=URL-or-path.
	function mqttUrl() {
		const u = new URL(q.get('mqtt') || 'mqtt', location.href);
		u.protocol = u.protocol === 'https:' ? 'wss:' :
		    u.protocol === 'http:' ? 'ws:' : u.protocol;
		u.hash = '';
		return u.href;
	}

	const client = new FhMqtt.Client({
		url: mqttUrl(),
		clientId: 'fh-page-' + Math.random().toString(36).slice(2, 12),
		keepalive: 30,
		onState(state, why) {
			ui.conn.dataset.state = state;
			ui.conn.textContent = state + (why ? ': ' + why : '');
		},
		onMessage: live,
		onSuback(f, granted) {
			if (granted === 0x80)
				notice('subscription to ' + f + ' refused');
			else if (f === filter)
				ui.conn.textContent = 'connected: ' + f;
		},
	});

	ui.filter.value = filter;
	ui.form.addEventListener('submit', (e) => {
		e.preventDefault();
		setFilter(ui.filter.value.trim());
	});
	ui.filter.addEventListener('input',
	    () => ui.filter.setCustomValidity(''));
	ui.pause.addEventListener('click', () => setPaused(!paused));
	ui.history.addEventListener('click', loadHistory);
	ui.clear.addEventListener('click', clearAll);
	ui.dclose.addEventListener('click', () => select(null));
	ui.rows.addEventListener('click', (e) => {
		const tr = e.target.closest('tr.ev');
		if (tr)
			select(events.find((ev) => String(ev.id) ===
			    tr.dataset.id) || null);
	});
	ui.rows.addEventListener('keydown', (e) => {
		if (e.key === 'Enter' && e.target.matches('tr.ev'))
			e.target.click();
	});
	document.addEventListener('keydown', (e) => {
		if (e.key === 'Escape')
			select(null);
	});

	showCounts();
	showEmpty();
	client.subscribe(filter);
	client.start();
})();
