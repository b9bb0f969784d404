"""Thread pools of the request path, apart from each variant's own inference thread (`service.batching`).

Parsing large bodies and decoding images run here, never in asyncio's shared default executor, so one kind of
work cannot starve another: a burst of image requests queues on the decode pool while text inference keeps its
own thread. Both pools are small and bounded (excess work waits in their queue, bounded in turn by the body and
pixel limits and the request deadline); they are created on first use, not at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

INLINE_PARSE_BYTES = 16 * 1024  # smaller bodies parse on the event loop: faster than a hand-off to a thread
PARSE_THREADS = 1
DECODE_THREADS = 2


@cache
def _pool(name: str, threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)


async def _run(pool: ThreadPoolExecutor, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await asyncio.get_running_loop().run_in_executor(pool, partial(function, *args, **kwargs))


async def parse_off_loop(size: int, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`function(*args)` inline for a small body, else on the parse pool."""
    if size <= INLINE_PARSE_BYTES:
        return function(*args, **kwargs)
    return await _run(_pool("parse", PARSE_THREADS), function, *args, **kwargs)


async def decode_off_loop(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`function(*args)` on the image decode pool."""
    return await _run(_pool("decode", DECODE_THREADS), function, *args, **kwargs)
