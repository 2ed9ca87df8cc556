"""Load generator: an asyncio HTTP/1.1 client for 127.0.0.1, keep-alive, with pre-encoded requests.

Two modes, the usual pair for latency benchmarks:

- `max_load` (closed loop): N connections, each sending its next request as soon as the previous
  answer arrives. Gives the maximum throughput, and the latency at that load.
- `fixed_rate` (open loop): requests start on a fixed schedule whatever the server does, and latency
  is measured from the *scheduled* start, so a stalled server cannot hide its queue from the numbers
  (no "coordinated omission", the reason wrk2 exists; wrk2 is not packaged by Debian).

Why not wrk: this client has no native dependency, so CI's smoke test runs the very code that makes
the full run's numbers. At the rates these servers reach (tens to hundreds of requests/s, the model
dominates) it needs a few percent of one core; every result records the client's own CPU use so that
stays checked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

HOST = "127.0.0.1"  # loopback only: nothing in the benchmark talks to another machine
TIMEOUT = 30.0  # seconds; a request slower than this counts as an error
# Servers close idle keep-alive connections (uvicorn after 5 s); reusing one that the server is closing
# at that moment fails without any fault of the server's, so the client drops its own idle ones first.
MAX_IDLE = 3.0


@dataclass
class Result:
    seconds: float  # length of the measured window
    latencies_ms: list[float] = field(default_factory=list)  # successful requests in the window
    errors: Counter = field(default_factory=Counter)  # kind -> count (non-200 status, timeout, ...)
    client_cpu_seconds: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict:
        return {"rps": self.rps, "p50_ms": self.percentile(50), "p99_ms": self.percentile(99), "ok": self.ok,
                "errors": self.error_count, "error_kinds": dict(self.errors),
                "client_cpu_share": self.client_cpu_seconds / self.seconds if self.seconds else 0.0}


def post_request(port: int, path: str, body: bytes) -> bytes:
    """The whole request, encoded once: per-request work in the client would be measured as server time."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.last_used = time.perf_counter()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request, read one response (Content-Length or chunked body); (status, body)."""
        if self.writer is not None and time.perf_counter() - self.last_used > MAX_IDLE:
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        body = b""
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await self.reader.readexactly(size + 2))[:-2]
        await self.reader.readuntil(b"\r\n")  # the empty trailer
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _timed(connection: Connection, raw: bytes) -> str | None:
    """One request; None if it got a 200, else what went wrong (the connection is then dropped)."""
    try:
        status, _ = await asyncio.wait_for(connection.exchange(raw), TIMEOUT)
    except TimeoutError:  # asyncio's is the builtin since 3.11
        connection.close()
        return "timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        connection.close()
        return type(exc).__name__
    connection.last_used = time.perf_counter()
    return None if status == 200 else f"HTTP {status}"


async def _max_load(port: int, raw: bytes, connections: int, seconds: float, warmup: float) -> Result:
    clock = time.perf_counter
    begin = clock() + warmup
    end = begin + seconds
    result = Result(seconds)

    async def user() -> None:
        connection = Connection(port)
        while (started := clock()) < end:
            error = await _timed(connection, raw)
            done = clock()
            if begin <= done < end:  # only answers that arrive inside the window count
                if error:
                    result.errors[error] += 1
                else:
                    result.latencies_ms.append((done - started) * 1000)
        connection.close()

    await asyncio.gather(*(user() for _ in range(connections)))
    return result


async def _fixed_rate(port: int, raw: bytes, rate: float, seconds: float, warmup: float,
                      max_connections: int) -> Result:
    clock = time.perf_counter
    start = clock() + 0.05
    begin = start + warmup
    result = Result(seconds)
    idle: list[Connection] = []
    slots = asyncio.Semaphore(max_connections)  # a saturated server makes requests wait here: that is latency too

    async def one(scheduled: float) -> None:
        async with slots:
            connection = idle.pop() if idle else Connection(port)
            error = await _timed(connection, raw)
            idle.append(connection)
        if scheduled >= begin:
            if error:
                result.errors[error] += 1
            else:
                result.latencies_ms.append((clock() - scheduled) * 1000)

    tasks = []
    for i in range(int(rate * (warmup + seconds))):
        scheduled = start + i / rate
        if (delay := scheduled - clock()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return result


def _run(coroutine) -> Result:
    cpu = time.process_time()
    result = asyncio.run(coroutine)
    result.client_cpu_seconds = time.process_time() - cpu
    return result


def max_load(port: int, raw: bytes, connections: int, seconds: float, warmup: float = 1.0) -> Result:
    """Closed loop: `connections` back-to-back clients for warmup + seconds; the window is the last `seconds`."""
    return _run(_max_load(port, raw, connections, seconds, warmup))


def fixed_rate(port: int, raw: bytes, rate: float, seconds: float, warmup: float = 1.0,
               max_connections: int = 64) -> Result:
    """Open loop: `rate` requests/s on a fixed schedule; latency counts from each request's scheduled start."""
    return _run(_fixed_rate(port, raw, rate, seconds, warmup, max_connections))
