"""``python -m firmware.sim --gateway HOST:PORT --watches N --cameras N --cabinets N``."""

import argparse
import json
import logging
import sys

from .fleet import Options, run_blocking


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.sim",
        description="Run simulated ESP32 watches, cameras and cabinets against a gateway.",
    )
    parser.add_argument("--gateway", default="127.0.0.1:5050", help="HOST:PORT of the gateway")
    parser.add_argument("--watches", type=int, default=1)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--cabinets", type=int, default=1)
    parser.add_argument(
        "--first-index", type=int, default=1, help="number of the first device of each kind"
    )
    parser.add_argument(
        "--token-file", help='JSON {"device id": "token"} for a gateway that enforces tokens'
    )
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable fleet")
    parser.add_argument("--measure-seconds", type=float, default=5.0, help="watch bpm window")
    parser.add_argument(
        "--sensor-speed", type=float, default=1.0, help="simulated sensor time per real second"
    )
    parser.add_argument("--finger-off-rate", type=float, default=0.05)
    parser.add_argument("--motion-rate", type=float, default=0.03, help="wrist jolts per second")
    parser.add_argument(
        "--shelf-every", type=float, default=30.0, help="mean seconds between cabinet changes"
    )
    parser.add_argument(
        "--items",
        help="what each cabinet holds, NAME:POSITIONS,... (default: three products at random);"
        " an item of one position is a box that is taken out and put back, one of several"
        " holds packs that are used up and restocked",
    )
    parser.add_argument(
        "--taken-at",
        action="append",
        default=[],
        metavar="ITEM=HH:MM[,HH:MM]",
        help="a box taken out at these times of day (UTC) instead of at random, as a"
        " patient takes a medicine; repeat for each item",
    )
    parser.add_argument("--backoff-ms", type=int, default=500)
    parser.add_argument("--backoff-max-ms", type=int, default=30000)
    parser.add_argument(
        "--no-spread",
        action="store_true",
        help="do not spread connections over 127.0.1.x source addresses",
    )
    parser.add_argument("--stats-every", type=float, default=10.0, help="seconds; 0 = quiet")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def parse_items(text: str | None) -> list[tuple[str, int]] | None:
    """``Aspirin:1,Oats:3`` -> [("Aspirin", 1), ("Oats", 3)]."""
    if not text:
        return None
    out = []
    for part in text.split(","):
        name, _, count = part.strip().rpartition(":")
        if not name or not count.isdigit() or not 1 <= int(count) <= 8:
            raise SystemExit(f"--items: {part!r} is not NAME:POSITIONS (1 to 8)")
        out.append((name, int(count)))
    return out


def parse_routine(entries: list[str]) -> dict[str, list[float]]:
    """``["Aspirin=08:00", "Vitamin C=08:00,20:00"]`` -> item -> UTC seconds of the day."""
    out: dict[str, list[float]] = {}
    for entry in entries:
        item, _, times = entry.partition("=")
        try:
            seconds = [
                int(h) * 3600 + int(m) * 60
                for h, m in (t.strip().split(":") for t in times.split(","))
                if 0 <= int(h) < 24 and 0 <= int(m) < 60
            ]
        except ValueError:
            seconds = []
        if not item.strip() or not seconds:
            raise SystemExit(f"--taken-at: {entry!r} is not ITEM=HH:MM[,HH:MM]")
        out[item.strip()] = seconds
    return out


def options(args: argparse.Namespace) -> Options:
    host, _, port = args.gateway.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("--gateway must be HOST:PORT")
    tokens = {}
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            tokens = json.load(f)
    return Options(
        host=host.strip("[]"),
        port=int(port),
        watches=args.watches,
        cameras=args.cameras,
        cabinets=args.cabinets,
        first_index=args.first_index,
        tokens=tokens,
        seed=args.seed,
        measure_s=args.measure_seconds,
        sensor_speed=args.sensor_speed,
        finger_off_rate=args.finger_off_rate,
        motion_rate=args.motion_rate,
        shelf_every_s=args.shelf_every,
        items=parse_items(args.items),
        routine=parse_routine(args.taken_at),
        backoff_ms=args.backoff_ms,
        backoff_max_ms=args.backoff_max_ms,
        spread_sources=False if args.no_spread else None,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    run_blocking(options(args), args.stats_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
