"""``python -m services.gateway``: run the gateway; ``... token <id>``: make a device token."""

import argparse
import asyncio
import contextlib
import logging
import resource
import signal
import ssl
import sys
from collections.abc import Callable

from services.common import logs
from services.common.devices import KIND_NAMES, kind_of
from services.common.errors import ConfigError
from services.common.mqtt import MqttClient
from services.common.topics import gateway_service
from services.common.usage import parse_service_args

from .bridge import Bridge
from .discovery import Discovery
from .registry import Registry, hash_token, new_token
from .server import Fleet
from .settings import Settings

log = logging.getLogger("services.gateway")


async def serve(
    settings: Settings,
    registry: Registry,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[int], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT), then close everything cleanly."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    client, bridge = _mqtt_side(settings)
    fleet = Fleet(settings, registry, bridge)
    # paho runs on this loop (see MqttClient.run), so its callbacks may call the fleet;
    # call_soon keeps them from running inside paho's read of the socket.
    bridge.attach(fleet.on_command, fleet.cluster, loop.call_soon)
    mqtt_stop = asyncio.Event()
    mqtt_task = asyncio.create_task(client.run(mqtt_stop))
    servers = await _listen(settings, fleet, tls)
    for sig in (signal.SIGTERM, signal.SIGINT):
        # not possible off the main thread, where the benchmarks run the gateway
        with contextlib.suppress(RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    _warn_about(settings, registry)
    if on_listening:
        on_listening(servers[0].sockets[0].getsockname()[1])
    try:
        await stop.wait()
    finally:
        logs.event(log, logging.INFO, "gateway.stopping", devices=len(fleet.devices))
        for server in servers:
            server.close()
        await fleet.close_all()
        for server in servers:
            await server.wait_closed()
        mqtt_stop.set()
        await mqtt_task


async def _listen(
    settings: Settings, fleet: Fleet, tls: ssl.SSLContext | None
) -> list[asyncio.Server]:
    """The plain listener, and the TLS one when ``GATEWAY_TLS_PORT`` is set."""
    plain = await asyncio.start_server(fleet.handle, settings.host, settings.port, backlog=1024)
    servers, where = [plain], {"address": f"{settings.host}:{_port_of(plain)}"}
    if settings.tls_port is not None:
        secure = await asyncio.start_server(
            fleet.handle,
            settings.host,
            settings.tls_port,
            ssl=tls or tls_context(settings),
            ssl_handshake_timeout=settings.handshake_timeout,
            backlog=1024,
        )
        servers.append(secure)
        where["tls_address"] = f"{settings.host}:{_port_of(secure)}"
    logs.event(
        log,
        logging.INFO,
        "gateway.listening",
        **where,
        gateway=settings.gateway_id or "-",
        registry="enforced" if fleet.registry.enforcing else "trusted-lan",
    )
    return servers


def _port_of(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The TLS listener's context, from ``GATEWAY_TLS_CERT`` and ``GATEWAY_TLS_KEY``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {settings.tls_cert} with the key"
            f" {settings.tls_key}: {exc}"
        ) from exc
    return context


def _mqtt_side(settings: Settings) -> tuple[MqttClient, Bridge]:
    """The broker connection and the bridge over it, with discovery if it is on."""
    service = gateway_service(settings.gateway_id)
    client = MqttClient(
        settings.mqtt,
        service,  # its own status topic and last will, and a client id of its own
        client_id=f"{settings.mqtt.topic_root}-{service}",
        queue_size=settings.mqtt_queue,
    )
    bridge = Bridge(client, settings.mqtt_queue)
    if settings.ha.enabled:
        bridge.discovery = Discovery(
            client.topics,
            settings.ha.prefix,
            bridge.publish_retained,
            settings.gateway_id,
            dashboard_url=settings.ha.dashboard_url,
        )
    return client, bridge


def _warn_about(settings: Settings, registry: Registry) -> None:
    """What a deployer should know at start: an empty registry, devices without tokens."""
    if registry.empty:
        # Started anyway: the setup makes it empty on purpose, and the token command that
        # fills it runs in this container (docker compose exec gateway ...).
        logs.event(
            log,
            logging.WARNING,
            "gateway.registry_empty",
            registry=settings.devices_file,
            hint="no device can connect: add each one ('python -m services.gateway token <id>'"
            " prints its entry) and restart the gateway",
        )
    for device_id in registry.without_token:
        logs.event(
            log,
            logging.WARNING,
            "gateway.device_without_token",
            device=device_id,
            hint="anyone on the network may use this id; give the board a token",
        )


def _token_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway token")
    parser.add_argument("device_id")
    parser.add_argument("--kind", choices=KIND_NAMES)
    args = parser.parse_args(argv)
    kind = args.kind or kind_of(args.device_id)
    if kind is None:
        parser.error("cannot tell the kind from the id; pass --kind")
    token = new_token()
    print(f"# put this token in the board's config.json: {token}")
    print(f'[devices."{args.device_id}"]')
    print(f'kind = "{kind}"')
    print(f'token_sha256 = "{hash_token(token)}"')
    return 0


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard one: each device holds a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["token"]:
        return _token_command(argv[1:])
    parse_service_args(
        "python -m services.gateway",
        "Bridge ESP32 devices to MQTT. 'python -m services.gateway token --help' makes a"
        " device token.",
        argv,
    )
    logs.setup("gateway")
    try:
        settings = Settings.from_env()
        registry = Registry.from_settings(settings.devices_file, settings.trusted_lan)
        tls = tls_context(settings) if settings.tls_port is not None else None
    except ConfigError as exc:
        logs.event(log, logging.ERROR, "gateway.bad_config", error=exc)
        return 2
    limit = raise_open_file_limit()
    if limit < settings.max_connections + 64:
        logs.event(
            log,
            logging.WARNING,
            "gateway.open_file_limit",
            limit=limit,
            max_connections=settings.max_connections,
            hint="raise the hard limit (ulimit -Hn) or lower GATEWAY_MAX_CONNECTIONS",
        )
    asyncio.run(serve(settings, registry, tls=tls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
