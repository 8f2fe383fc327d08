"""``python -m services.gateway``: run the gateway; ``... token <id>``: make a device token."""

import argparse
import asyncio
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Callable

from services.common import logs
from services.common.devices import KIND_NAMES, kind_of
from services.common.errors import ConfigError
from services.common.mqtt import MqttClient
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
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT), then close everything cleanly."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    client = MqttClient(
        settings.mqtt,
        "gateway",
        client_id=f"{settings.mqtt.topic_root}-gateway",
        queue_size=settings.mqtt_queue,
    )
    bridge = Bridge(client, settings.mqtt_queue)
    if settings.ha.enabled:
        bridge.discovery = Discovery(
            client.topics, settings.ha.prefix, bridge.publish_retained, settings.ha.dashboard_url
        )
    fleet = Fleet(settings, registry, bridge)
    # paho runs on this loop (see MqttClient.run), so its callbacks may call the fleet;
    # call_soon keeps them from running inside paho's read of the socket.
    bridge.attach(fleet.on_command, fleet.on_stale_status, loop.call_soon)
    mqtt_stop = asyncio.Event()
    mqtt_task = asyncio.create_task(client.run(mqtt_stop))
    server = await asyncio.start_server(fleet.handle, settings.host, settings.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        # not possible off the main thread, where the benchmarks run the gateway
        with contextlib.suppress(RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    logs.event(
        log,
        logging.INFO,
        "gateway.listening",
        address=f"{settings.host}:{port}",
        registry="enforced" if registry.enforcing else "trusted-lan",
    )
    for device_id in registry.without_token:
        logs.event(
            log,
            logging.WARNING,
            "gateway.device_without_token",
            device=device_id,
            hint="anyone on the network may use this id; give the board a token",
        )
    if on_listening:
        on_listening(port)
    try:
        await stop.wait()
    finally:
        logs.event(log, logging.INFO, "gateway.stopping", devices=len(fleet.devices))
        server.close()
        await fleet.close_all()
        await server.wait_closed()
        mqtt_stop.set()
        await mqtt_task


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
    asyncio.run(serve(settings, registry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
