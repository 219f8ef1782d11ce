# firehose: an Ansible callback plugin that posts playbook events to
# firehosed's ansible source (POST <url>/v1/events), which publishes them on
# MQTT under the original mqtt callback's topics.
#
# Python 3 standard library only. A daemon that is down, slow or refusing
# never fails the playbook and never slows it by more than the flush cap:
# events go through a bounded queue to one background sender thread, and
# the first delivery problem is reported once, as a warning.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = '''
    name: firehose
    type: notification
    short_description: post playbook events to a firehose daemon
    description:
      - Posts play start, task results (ok, failed, unreachable, skipped),
        per-host stats and the playbook's finish to firehosed, which
        publishes them on MQTT as C(ansible/playbook/<uuid>/...).
      - Delivery is best effort. Events are queued and sent in batches by a
        background thread; when the daemon is unreachable they are dropped
        and one warning is shown. The playbook's result never depends on it.
    requirements:
      - enable in configuration (C(callbacks_enabled = firehose)) or with
        C(ANSIBLE_CALLBACKS_ENABLED=firehose)
    options:
      url:
        description: >
          Base URL of firehosed's ansible source, C(http://host:port) or
          C(unix:/path/to/socket).
        default: http://127.0.0.1:8765
        env:
          - name: FIREHOSE_URL
        ini:
          - section: callback_firehose
            key: url
      token:
        description: Bearer token, when the source has a token_file.
        default: ''
        env:
          - name: FIREHOSE_TOKEN
        ini:
          - section: callback_firehose
            key: token
      timeout:
        description: Seconds to wait for the daemon on each request.
        type: float
        default: 2
        env:
          - name: FIREHOSE_TIMEOUT
        ini:
          - section: callback_firehose
            key: timeout
      flush_timeout:
        description: >
          At the end of the playbook, seconds to wait at most for queued
          events to be delivered.
        type: float
        default: 10
        env:
          - name: FIREHOSE_FLUSH_TIMEOUT
        ini:
          - section: callback_firehose
            key: flush_timeout
      queue_size:
        description: Events kept while the daemon is slow; more are dropped.
        type: int
        default: 10000
        env:
          - name: FIREHOSE_QUEUE_SIZE
        ini:
          - section: callback_firehose
            key: queue_size
'''

import http.client
import json
import os
import queue
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

from ansible.plugins.callback import CallbackBase

# A batch is cut at this many events or this many bytes, whichever first,
# to stay well under the source's max_body (1M by default).
BATCH_EVENTS = 200
BATCH_BYTES = 256 * 1024
# One event's ansible_result above this is replaced by a note.
RESULT_MAX = 512 * 1024
# After a failed send, drop events for this long before trying again.
RETRY_AFTER = 5.0

_STOP = object()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__('localhost', timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class _Sender(threading.Thread):
    """Takes serialized events from a bounded queue and POSTs them."""

    def __init__(self, url, token, timeout, queue_size):
        super().__init__(name='firehose-sender', daemon=True)
        self.url = url.rstrip('/')
        self.token = token
        self.timeout = timeout
        self.queue = queue.Queue(maxsize=max(1, queue_size))
        self.conn = None
        self.sent = 0
        self.dropped = 0
        self.problem = None        # first problem, for the one warning
        self.down_until = 0.0
        self.lock = threading.Lock()
        if self.url.startswith('unix:'):
            self.path = '/v1/events'
            self.unix = self.url[len('unix:'):]
            self.host = None
        else:
            u = urlsplit(self.url)
            if u.scheme not in ('http', 'https') or not u.hostname:
                raise ValueError('bad firehose url %r' % url)
            self.unix = None
            self.scheme = u.scheme
            self.host = u.hostname
            self.port = u.port
            self.path = (u.path or '') + '/v1/events'

    def put(self, data):
        try:
            self.queue.put_nowait(data)
        except queue.Full:
            self._drop(1, 'queue full (%d events)' % self.queue.maxsize)

    def _drop(self, n, why):
        with self.lock:
            self.dropped += n
            if self.problem is None:
                self.problem = why

    def _connect(self):
        if self.unix is not None:
            return _UnixHTTPConnection(self.unix, self.timeout)
        if self.scheme == 'https':
            return http.client.HTTPSConnection(self.host, self.port,
                                               timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.timeout)

    def _post(self, batch):
        body = b'[' + b','.join(batch) + b']'
        headers = {'Content-Type': 'application/json',
                   'User-Agent': 'firehose-ansible-callback/1'}
        if self.token:
            headers['Authorization'] = 'Bearer ' + self.token
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request('POST', self.path, body, headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                # A kept-alive connection the daemon closed: retry once.
                if attempt == 1 and isinstance(
                        e, (http.client.RemoteDisconnected,
                            BrokenPipeError, ConnectionResetError)):
                    continue
                return 'cannot post to %s: %s' % (self.url, e)
            if resp.status == 202:
                return None
            try:
                why = json.loads(data.decode('utf-8', 'replace'))['error']
            except Exception:
                why = resp.reason
            if resp.getheader('Connection', '').lower() == 'close':
                self.conn.close()
                self.conn = None
            return '%s answered %d: %s' % (self.url, resp.status, why)
        return 'cannot post to %s' % self.url

    def _send(self, batch):
        if time.monotonic() < self.down_until:
            self._drop(len(batch), None)
            return
        why = self._post(batch)
        if why is None:
            self.sent += len(batch)
        else:
            self.down_until = time.monotonic() + RETRY_AFTER
            self._drop(len(batch), why)

    def run(self):
        while True:
            item = self.queue.get()
            if item is _STOP:
                break
            batch, size, stop = [item], len(item), False
            while len(batch) < BATCH_EVENTS and size < BATCH_BYTES:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
                size += len(item)
            self._send(batch)
            if stop:
                break
        if self.conn is not None:
            self.conn.close()

    def close(self, deadline):
        """Flush for at most deadline seconds; True when all was sent."""
        end = time.monotonic() + deadline
        try:
            self.queue.put(_STOP, timeout=max(0.0, end - time.monotonic()))
        except queue.Full:
            pass
        self.join(max(0.0, end - time.monotonic()))
        return not self.is_alive()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'firehose'
    CALLBACK_NEEDS_ENABLED = True
    CALLBACK_NEEDS_WHITELIST = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.hostname = socket.gethostname()
        self.session = str(uuid.uuid4())
        self.playbook_id = None
        self.playbook_name = None
        self.sender = None
        self.warned = False
        self.failed_start = False

    # -- plumbing --------------------------------------------------------

    def _option(self, name, default):
        try:
            v = self.get_option(name)
        except KeyError:
            v = None
        return default if v is None else v

    def _start_sender(self):
        if self.sender is not None or self.failed_start:
            return
        url = self._option('url', os.environ.get(
            'FIREHOSE_URL', 'http://127.0.0.1:8765'))
        try:
            self.sender = _Sender(
                url, self._option('token', ''),
                float(self._option('timeout', 2)),
                int(self._option('queue_size', 10000)))
            self.sender.start()
        except (ValueError, RuntimeError) as e:
            self.failed_start = True
            self.sender = None
            self._display.warning('firehose: disabled: %s' % e)

    def _warn_once(self):
        s = self.sender
        if s is None or self.warned:
            return
        with s.lock:
            problem = s.problem
        if problem:
            self.warned = True
            self._display.warning(
                'firehose: events are not being delivered (%s); the '
                'playbook goes on, further problems are not reported'
                % problem)

    def _post(self, event):
        self._start_sender()
        if self.sender is None:
            return
        try:
            data = json.dumps(event, separators=(',', ':'),
                              ensure_ascii=False, default=str)
        except (TypeError, ValueError) as e:
            data = None
            why = e
        if data is None or len(data) > RESULT_MAX + 4096:
            if 'ansible_result' in event:
                event['ansible_result'] = {
                    'msg': 'firehose: result not sent (%s)' % (
                        'too large: %d bytes' % len(data) if data else why)}
            data = json.dumps(event, separators=(',', ':'), default=str)
        self.sender.put(data.encode('utf-8'))
        self._warn_once()

    def _result(self, result):
        try:
            return json.loads(self._dump_results(result._result))
        except Exception:
            return {'msg': 'firehose: result could not be serialized'}

    def _task(self, result, status, **extra):
        event = {
            'ansible_type': 'task',
            'status': status,
            'host': self.hostname,
            'ansible_host': result._host.get_name(),
            'session': self.session,
            'playbook_name': self.playbook_name or '',
            'playbook_id': self.playbook_id or self.session,
            'ansible_task': str(result._task),
            'ansible_result': self._result(result),
        }
        event.update(extra)
        self._post(event)

    # -- Ansible hooks ---------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        self._start_sender()

    def v2_playbook_on_play_start(self, play):
        self.playbook_id = str(play._uuid)
        self.playbook_name = play.get_name()
        self._post({
            'ansible_type': 'start',
            'status': 'OK',
            'host': self.hostname,
            'session': self.session,
            'playbook_name': self.playbook_name,
            'playbook_id': self.playbook_id,
        })

    def v2_runner_on_ok(self, result):
        self._task(result, 'OK')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._task(result, 'FAILED', ignore_errors=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result):
        self._task(result, 'UNREACHABLE')

    def v2_runner_on_skipped(self, result):
        self._task(result, 'SKIPPED')

    def v2_runner_on_async_failed(self, result):
        self._task(result, 'FAILED')

    def v2_playbook_on_stats(self, stats):
        failed = False
        playbook_id = self.playbook_id or self.session
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            if s.get('failures') or s.get('unreachable'):
                failed = True
            self._post({
                'ansible_type': 'stats',
                'host': self.hostname,
                'ansible_host': host,
                'playbook_id': playbook_id,
                'playbook_name': self.playbook_name or '',
                'session': self.session,
                'stats': s,
            })
        self._post({
            'ansible_type': 'finish',
            'status': 'FAILED' if failed else 'OK',
            'playbook_id': playbook_id,
            'playbook_name': self.playbook_name or '',
            'host': self.hostname,
            'session': self.session,
        })
        sender = self.sender
        if sender is None:
            return
        done = sender.close(float(self._option('flush_timeout', 10)))
        self.sender = None
        self._warn_once_from(sender, done)

    def _warn_once_from(self, sender, done):
        with sender.lock:
            problem, dropped = sender.problem, sender.dropped
        if not done and problem is None:
            problem = 'still sending after the flush timeout'
        if problem and not self.warned:
            self.warned = True
            self._display.warning(
                'firehose: events were not delivered (%s)' % problem)
        if dropped or not done:
            self._display.v('firehose: %d events sent, %d dropped%s' % (
                sender.sent, dropped, '' if done else ', sender timed out'))
