"""``python -m bench.capacity_watches``: protocol-level watches that answer ``bpm``, one process.

The capacity bench runs a few of these beside the services. Each holds its watches on
one asyncio loop, spread over loopback source addresses, and is driven by lines on its
stdin, answering each with one JSON line on stdout:

* ``grow N``: connect watches until N are held; ``{"held", "failed"}``
* ``stats``: ``{"held", "sent", "asked", "dropped"}``
* ``pause``: stop answering (a ``bpm`` that arrives is owed); the same as ``stats``
* ``resume``: answer what is owed, then answer again; the same as ``stats``
* ``quit``
"""

import argparse
import asyncio
import json
import resource
import sys

from services.common import protocol as p

from .harness import connect_watch_link, source_address

BATCH = 500  # handshakes in flight at once


class Watches:
    """The watches of this process and their counters."""

    def __init__(self, port: int, first: int, gateway: str) -> None:
        self.port, self.first, self.gateway = port, first, gateway
        self.writers: list[asyncio.StreamWriter] = []
        self.owed: set[int] = set()
        self.paused = False
        self.sent = self.asked = self.dropped = self.failed = 0
        self.tasks: set[asyncio.Task] = set()

    def device_id(self, k: int) -> str:
        return f"wch-{self.gateway}-{k}"

    async def _one(self, k: int) -> None:
        i = self.first + k
        reader, writer, link = await asyncio.wait_for(
            connect_watch_link(self.port, self.device_id(k), source_address(i)), 60
        )
        self.writers.append(writer)
        slot = len(self.writers) - 1
        task = asyncio.create_task(self._serve(slot, reader, writer, link))
        self.tasks.add(task)

    async def _serve(self, slot: int, reader, writer, link: p.DeviceLink) -> None:
        value = 60 + slot % 40
        while data := await reader.read(256):
            for event in link.feed(data):
                if isinstance(event, p.Command) and event.name == "bpm":
                    self.asked += 1
                    if self.paused:
                        self.owed.add(slot)
                    else:
                        writer.write(p.reading(value, "bpm"))
                        self.sent += 1
        self.dropped += 1

    async def grow(self, target: int) -> None:
        while len(self.writers) < target:
            batch = range(len(self.writers), min(target, len(self.writers) + BATCH))
            results = await asyncio.gather(*(self._one(k) for k in batch), return_exceptions=True)
            failed = sum(1 for r in results if isinstance(r, BaseException))
            self.failed += failed
            if failed:
                return  # the caller sees held < target; retrying would hide the limit

    def resume(self) -> None:
        self.paused = False
        for slot in sorted(self.owed):
            self.writers[slot].write(p.reading(60 + slot % 40, "bpm"))
            self.sent += 1
        self.owed.clear()

    def stats(self) -> dict:
        held = len(self.writers) - self.dropped
        return {"held": held, "sent": self.sent, "asked": self.asked, "dropped": self.dropped}


async def run(watches: Watches) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        verb, *args = line.split()
        if verb == "quit":
            break
        if verb == "grow":
            await watches.grow(int(args[0]))
            out = {"held": len(watches.writers), "failed": watches.failed}
        elif verb in ("stats", "pause", "resume"):
            if verb == "pause":
                watches.paused = True
            elif verb == "resume":
                watches.resume()
            out = watches.stats()
        else:
            out = {"error": f"unknown command {verb!r}"}
        print(json.dumps(out), flush=True)
    for writer in watches.writers:
        writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity_watches")
    parser.add_argument("--port", type=int, required=True, help="the gateway's device port")
    parser.add_argument("--first", type=int, default=0, help="index of the first source address")
    parser.add_argument("--gateway", default="g0", help="part of every device id")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per watch
    asyncio.run(run(Watches(args.port, args.first, args.gateway)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
