"""A paho-mqtt client with the project's habits built in.

* availability: ``<root>/services/<name>/status`` is ``online`` (retained) on
  every connect and ``offline`` by last will or clean stop; a connected client that
  hears its own topic say ``offline`` says ``online`` again (a late last will);
* subscriptions are made in ``on_connect``, so a reconnect restores them;
* messages go to the handler of the first matching route of the client's
  ``Router`` (``services/common/router.py``), whose filters are subscribed too;
* every publish result is checked; QoS 1 messages published while the broker is
  away wait in paho's bounded queue and go out in order on reconnect;
* failover: with several brokers (``MQTT_HOSTS``, the nodes of one cluster) the client
  connects to the first that answers and, when it loses its node, moves on to the next;
  it leaves a node that holds its CONNECT for ``CONNACK_WAIT`` without a CONNACK. Both
  drivers (paho's thread, ``start()``, and asyncio, ``run()``) follow ``BrokerChoice``.
  paho sends the QoS 1 messages the lost node had not acknowledged again to the new one
  (at least once, never dropped), and a kept session (``clean_session=False``) resumes
  there with the messages the cluster held for it.
"""

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from . import logs
from .broker_choice import CONNACK_WAIT, RETRY_MAX, RETRY_MIN, BrokerChoice
from .errors import MqttError, PublishQueueFull
from .router import Handler, Router
from .settings import MqttSettings
from .suback import Grants
from .topics import OFFLINE, ONLINE, Topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[mqtt.MQTTMessage], None]

__all__ = ["CONNACK_WAIT", "MqttClient", "reachable"]

# Seconds a TCP handshake may take: the asyncio driver's loop waits through it, and a
# client with several nodes had better try the next one than wait on a dead host.
CONNECT_WAIT = 2.0
# Seconds a connected client waits before contradicting an ``offline`` of its own.
RESTORE_WAIT = 0.5


def reachable(settings: MqttSettings, timeout: float = 3.0) -> bool:
    """Whether any of the brokers accepts a TCP connection now (a refusal answers at once)."""
    for host, port in settings.brokers:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:
            continue
        return True
    return False


class MqttClient:
    """One service's connection to the broker."""

    def __init__(
        self,
        settings: MqttSettings,
        service: str,
        *,
        client_id: str = "",
        clean_session: bool = True,
        subscriptions: Iterable[tuple[str, int]] = (),
        router: Router | None = None,
        on_message: MessageHandler | None = None,
        on_connected: Callable[[], None] | None = None,
        on_subscribed: Callable[[str], None] | None = None,
        queue_size: int = 0,
        manual_ack: bool = False,
        max_inflight: int = 1000,
        announce: bool = True,
    ) -> None:
        self.settings = settings
        # ``announce=False``: a helper connection of a service, which must not speak for it
        self._announce = announce
        self.service = service
        self.topics = Topics(settings.topic_root)
        self._subscriptions = list(subscriptions)
        self._clean_session = clean_session
        # Routes are called with the message on paho's thread; a service that handles
        # messages elsewhere takes them all through ``on_message`` instead.
        self.router = router or Router()
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_subscribed = on_subscribed  # paho's thread, with each filter once granted
        self._connected = threading.Event()
        self.connects = 0
        # Unacknowledged publishes: ``_published`` grows under the lock (any
        # thread may publish), ``_acked`` only on paho's thread.
        self._publish_lock = threading.Lock()
        self._published = 0
        self._acked = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
            manual_ack=manual_ack,
        )
        self._sign_in()
        self._init_failover()
        if queue_size:
            self._client.max_queued_messages_set(queue_size)
        # paho's default window of 20 unacknowledged messages caps a busy
        # publisher at 20 per round trip; the broker does not limit incoming QoS 1.
        self._client.max_inflight_messages_set(max_inflight)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_message = self._handle_message
        self._client.on_publish = self._handle_publish

    def _sign_in(self) -> None:
        """Account, TLS and last will, for every broker alike."""
        settings = self.settings
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca:
            self._client.tls_set(ca_certs=settings.tls_ca)
        if self._announce:
            self._client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)

    def _init_failover(self) -> None:
        self._client.reconnect_delay_set(min_delay=RETRY_MIN, max_delay=RETRY_MAX)
        self._brokers = self.settings.brokers
        self._choice = BrokerChoice(len(self._brokers))
        self._tried_at = time.monotonic()  # when paho's thread began its current attempt
        self._stopping = False
        self._driven = False  # run() drives paho from asyncio and picks brokers itself
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepted = asyncio.Event()  # the asyncio driver's CONNACK
        self._grants = Grants()

    @property
    def status_topic(self) -> str:
        return self.topics.service_status(self.service)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def broker(self) -> str:
        """``host:port`` of the broker in use (or being tried)."""
        host, port = self._brokers[self._choice.index]
        return f"{host}:{port}"

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until ``stop()``."""
        host, port = self._brokers[self._choice.index]
        if len(self._brokers) > 1:
            self._client.on_socket_open = self._watch_connack
            self._client.connect_timeout = CONNECT_WAIT
        self._tried_at = time.monotonic()
        self._client.connect_async(host, port, self.settings.keepalive)
        self._client.loop_start()

    def _move_on(self, accepted: bool) -> None:
        """paho's own thread, after a lost or failed connection: aim its next try elsewhere."""
        if self._stopping or self._driven:
            return
        wait = self._choice.after(accepted, time.monotonic() - self._tried_at)
        host, port = self._brokers[self._choice.index]
        # connect_async only sets the address (and state) paho's loop reconnects to;
        # the socket is already closed here. paho waits its minimum delay first.
        self._client.connect_async(host, port, self.settings.keepalive)
        self._client.reconnect_delay_set(min_delay=wait, max_delay=RETRY_MAX)
        self._tried_at = time.monotonic() + wait
        logs.event(
            log, logging.INFO, "mqtt.next_broker", broker=self.broker, retry_in=round(wait, 2)
        )

    def _watch_connack(self, client, userdata, sock) -> None:
        """paho's thread, a socket just opened: leave the node if it has not accepted within
        ``CONNACK_WAIT``, as the asyncio driver does (paho alone would wait a keepalive)."""
        connects = self.connects

        def check() -> None:
            if self.connects != connects or self._stopping or client.socket() is not sock:
                return
            logs.event(
                log, logging.WARNING, "mqtt.no_connack", broker=self.broker, waited=CONNACK_WAIT
            )
            if isinstance(sock, socket.socket):
                # paho's select() sees the end of the stream and takes it as a lost
                # connection, so its own thread moves on; the plain socket's shutdown,
                # because TLS's would unwrap the socket under paho's feet
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(CONNACK_WAIT, check)
        timer.daemon = True
        timer.start()

    @property
    def backlog(self) -> int:
        """Messages handed to paho and not yet acknowledged by the broker."""
        return self._published - self._acked

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """Connected, and every subscription granted: what is published now reaches us."""
        deadline = time.monotonic() + timeout
        return self._connected.wait(timeout) and self._grants.wait(
            max(0.0, deadline - time.monotonic())
        )

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish, or raise; QoS 1 messages are queued while disconnected."""
        with self._publish_lock:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                raise PublishQueueFull(f"outgoing queue full, {topic} not published")
            # QoS 1 while disconnected: paho keeps it and sends it on reconnect
            queued = info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos > 0
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS and not queued:
                raise MqttError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
            self._published += 1
        return info

    def ack(self, message: mqtt.MQTTMessage) -> None:
        """Acknowledge a message received with ``manual_ack=True`` (QoS 1: PUBACK)."""
        # Without a connection the broker resends the message on reconnect anyway.
        self._client.ack(message.mid, message.qos)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now and again after every reconnect."""
        self._subscriptions.append((topic, qos))
        if self.connected:
            self._subscribe(topic, qos)

    def route(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Subscribe to ``topic_filter`` and hand its messages to ``handler``."""
        self.router.add(topic_filter, handler, qos)
        if self.connected:
            self._subscribe(topic_filter, qos)

    def stop(self, timeout: float = 3.0, offline: bool = True) -> None:
        """Say ``offline`` (unless told not to), flush what can be flushed, and disconnect."""
        self._stopping = True  # so the echo of our own ``offline`` is not answered
        if self.connected and self._announce and offline:
            try:
                info = self.publish(self.status_topic, OFFLINE, retain=True)
                info.wait_for_publish(timeout)
            except (MqttError, RuntimeError, ValueError) as exc:
                logs.event(log, logging.WARNING, "mqtt.offline_not_sent", error=exc)
        self._connected.clear()  # a disconnect we asked for is not worth a warning
        self._client.disconnect()
        self._client.loop_stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Drive the client from the running asyncio loop until ``stop``, then disconnect.

        paho's own thread (``start()``) waits with ``select()``, which cannot watch a
        descriptor above 1023. A gateway holding thousands of device sockets gets
        such descriptors for every new broker connection, so it runs paho on the
        event loop (epoll) instead, through paho's socket callbacks.
        """
        loop = asyncio.get_running_loop()
        client = self._client
        lost = asyncio.Event()
        housekeeping: list[asyncio.Task] = []

        def opened(c, userdata, sock) -> None:
            loop.add_reader(sock, c.loop_read)
            housekeeping.append(loop.create_task(self._keepalive()))

        def closed(c, userdata, sock) -> None:
            loop.remove_reader(sock)
            loop.remove_writer(sock)
            while housekeeping:
                housekeeping.pop().cancel()
            lost.set()

        self._driven = True
        self._loop = loop
        client.on_socket_open = opened
        client.on_socket_close = closed
        client.on_socket_register_write = lambda c, u, sock: loop.add_writer(sock, c.loop_write)
        client.on_socket_unregister_write = lambda c, u, sock: loop.remove_writer(sock)
        # connect() blocks the loop until the TCP handshake ends; keep that short.
        client.connect_timeout = CONNECT_WAIT
        await self._connect_loop(stop, lost)
        await self._say_offline_and_disconnect(lost)

    async def _connect_loop(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """Connect, wait for loss, move to the next broker, until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            connects, tried_at = self.connects, loop.time()
            await self._attempt(stop, lost)
            if stop.is_set():
                break
            accepted = self.connects > connects
            wait = self._choice.after(accepted, loop.time() - tried_at)
            if accepted:  # on another node at once
                continue
            logs.event(log, logging.INFO, "mqtt.retry", broker=self.broker, retry_in=round(wait, 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def _attempt(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """One connection to the current broker, until it is lost or ``stop``.

        With several brokers, one that has not accepted within ``CONNACK_WAIT`` is left
        for the next: a cluster node whose peers are electing leaders can hold a CONNECT
        for seconds and then drop it (NATS: 4 s), while another node may answer now.
        """
        loop = asyncio.get_running_loop()
        lost.clear()
        host, port = self._brokers[self._choice.index]
        try:
            self._client.connect(host, port, self.settings.keepalive)
        except OSError as exc:
            logs.event(log, logging.WARNING, "mqtt.connect_failed", error=exc, broker=self.broker)
            return
        self._accepted.clear()
        accepted = loop.create_task(self._accepted.wait())
        ended = [loop.create_task(stop.wait()), loop.create_task(lost.wait())]
        patience = CONNACK_WAIT if len(self._brokers) > 1 else None
        done, _ = await asyncio.wait(
            [accepted, *ended], timeout=patience, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            logs.event(log, logging.WARNING, "mqtt.no_connack", broker=self.broker, waited=patience)
            self._client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), 1)
        elif not any(task in done for task in ended):  # accepted: now wait for the end
            await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
        for task in (accepted, *ended):
            task.cancel()

    async def _keepalive(self) -> None:
        """paho's periodic work (PINGREQ, retries), which its own thread would do."""
        while self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1)

    async def _say_offline_and_disconnect(self, lost: asyncio.Event) -> None:
        self._stopping = True
        if self.connected and self._announce:
            try:
                info = self.publish(self.status_topic, OFFLINE, retain=True)
                for _ in range(30):
                    if info.is_published():
                        break
                    await asyncio.sleep(0.1)
            except MqttError as exc:
                logs.event(log, logging.WARNING, "mqtt.offline_not_sent", error=exc)
        self._connected.clear()  # a disconnect we asked for is not worth a warning
        self._client.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), 2)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logs.event(log, logging.ERROR, "mqtt.refused", reason=reason_code, broker=self.broker)
            return
        self.connects += 1
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # paho leaves Nagle on: small PUBLISH packets sent one per PUBACK
            # would each wait for a delayed TCP ACK (about 40 ms on Linux).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        logs.event(
            log,
            logging.INFO,
            "mqtt.connected",
            broker=self.broker,
            session_present=flags.session_present,
        )
        if self._announce:
            client.publish(self.status_topic, ONLINE, qos=1, retain=True)
            with self._publish_lock:  # its PUBACK is counted too, so count it as published
                self._published += 1
        self._grants.connected()
        for topic, qos in self._subscriptions + self.router.subscriptions():
            self._subscribe(topic, qos)
        if self._announce and not self._covers(self.status_topic):
            self._subscribe(self.status_topic, 0)  # to hear a late last will (below)
        self._connected.set()
        if self._driven:
            self._accepted.set()
        if self._on_connected:
            self._on_connected()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._grants.lost()
        if was:
            logs.event(
                log, logging.WARNING, "mqtt.disconnected", reason=reason_code, broker=self.broker
            )
        self._move_on(accepted=was)

    def _subscribe(self, topic: str, qos: int) -> None:
        if self._clean_session:
            # A clean session loses unacknowledged messages on any reconnect anyway.
            qos = min(qos, self.settings.clean_qos)
        result, mid = self._client.subscribe(topic, qos)
        if result == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
            self._grants.sent(mid, topic, qos)

    def _handle_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        """A refused filter is asked for again later: a cluster node that lost a peer can
        refuse a subscription until its storage has a leader again (NATS does)."""
        refused = any(code.is_failure for code in reason_codes)
        topic, qos, delay = self._grants.answered(mid, refused)
        if not topic:
            return
        if delay is None:
            if self._on_subscribed:
                self._on_subscribed(topic)
            return
        logs.event(
            log,
            logging.WARNING,
            "mqtt.subscribe_refused",
            topic=topic,
            broker=self.broker,
            retry_in=delay,
        )
        # a reconnect in between subscribes everything anyway
        self._later(delay, lambda: self._subscribe(topic, qos))

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay`` if this connection is still up by then."""
        connection = self.connects

        def run() -> None:
            if self.connects == connection and self.connected and not self._stopping:
                action()

        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.call_later, delay, run)
        else:
            timer = threading.Timer(delay, run)
            timer.daemon = True
            timer.start()

    def _handle_connect_fail(self, client, userdata) -> None:
        logs.event(log, logging.WARNING, "mqtt.connect_failed", broker=self.broker)
        self._move_on(accepted=False)

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acked += 1

    def _covers(self, topic: str) -> bool:
        """Whether the service itself subscribes to ``topic``."""
        filters = self._subscriptions + self.router.subscriptions()
        return any(mqtt.topic_matches_sub(pattern, topic) for pattern, _ in filters)

    def _answer_own_status(self, message: mqtt.MQTTMessage) -> None:
        """Say ``online`` again on hearing our own topic say ``offline`` while connected.

        A cluster node that dropped us can send our will seconds late, when we are
        online on another node (NATS, during elections; docs/topics.md). A broker
        shutting down sends its clients' wills as it drops them, so the answer waits
        ``RESTORE_WAIT`` and goes only if this connection is still up then.
        """
        if message.payload != OFFLINE.encode() or self._stopping or not self.connected:
            return

        def restore() -> None:
            logs.event(log, logging.WARNING, "mqtt.status_restored", topic=message.topic)
            self.publish(self.status_topic, ONLINE, retain=True)

        self._later(RESTORE_WAIT, restore)

    def _handle_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            if self._announce and message.topic == self.status_topic:
                self._answer_own_status(message)
                if not self._covers(message.topic):
                    return
            if self._on_message is not None:
                self._on_message(message)
            else:
                self.router.dispatch(message.topic, message)
        except Exception:  # a bad message must not kill paho's network thread
            log.exception("event=mqtt.handler_failed topic=%s", message.topic)
