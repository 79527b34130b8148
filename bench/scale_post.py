"""The load's poster, in a process of its own: `python -m bench.scale_post JOB OUT`.

Measured apart from the fake Telegram: in one process, the fake's work (answering the bot's
sends, a burst at a time) delays the posting loop, and that delay would be counted as the
web processes' acknowledgement latency. JOB (JSON): ports, secret, path, rate, updates.
OUT (JSON): latencies (seconds, one per update acknowledged), errors, acked_in (seconds),
cpu (this process's CPU seconds).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


async def post_all(job: dict[str, Any]) -> dict[str, Any]:
    ports, rate, updates = job["ports"], job["rate"], job["updates"]
    turn = itertools.cycle(range(len(ports)))
    latencies: list[float] = []
    errors = 0
    headers = {"X-Telegram-Bot-Api-Secret-Token": job["secret"]}
    # As many connections as requests in flight: none waits for a free connection here.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(update: dict[str, Any]) -> None:
            nonlocal errors
            for attempt in range(200):
                port = ports[next(turn)]
                began = time.perf_counter()
                try:
                    async with http.post(f"http://127.0.0.1:{port}{job['path']}",
                                         json=update, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=10)) as r:
                        if r.status == 200:
                            latencies.append(time.perf_counter() - began)
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))
            errors += 1

        cpu = time.process_time()
        started = time.perf_counter()
        tasks = []
        for i, update in enumerate(updates):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(update)))
        await asyncio.gather(*tasks)
        return {"latencies": latencies, "errors": errors,
                "acked_in": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text())
    Path(sys.argv[2]).write_text(json.dumps(asyncio.run(post_all(job))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
