"""`service.pools`: small bodies parse on the event loop, large ones on the parse pool, images on the decode pool."""

from __future__ import annotations

import asyncio
import threading

import pytest

from service.pools import DECODE_THREADS, INLINE_PARSE_BYTES, PARSE_THREADS, decode_off_loop, parse_off_loop


def thread_name(tag: str, *, suffix: str = "") -> str:
    return f"{threading.current_thread().name}:{tag}{suffix}"


def test_small_bodies_parse_inline_and_large_ones_on_the_parse_thread() -> None:
    async def scenario() -> tuple[str, str, str]:
        loop_thread = threading.current_thread().name
        small = await parse_off_loop(INLINE_PARSE_BYTES, thread_name, "small")
        large = await parse_off_loop(INLINE_PARSE_BYTES + 1, thread_name, "large", suffix="!")
        return loop_thread, small, large

    loop_thread, small, large = asyncio.run(scenario())
    assert small == f"{loop_thread}:small"
    assert large.startswith("parse_") and large.endswith(":large!")


def test_decoding_runs_on_the_decode_pool_and_errors_propagate() -> None:
    async def scenario() -> set[str]:
        names = await asyncio.gather(*(decode_off_loop(thread_name, str(i)) for i in range(8)))
        with pytest.raises(ValueError, match="bad image"):
            await decode_off_loop(int, "bad image")
        return {name.split(":")[0] for name in names}

    threads = asyncio.run(scenario())
    assert all(name.startswith("decode_") for name in threads) and len(threads) <= DECODE_THREADS


def test_the_pools_are_shared_across_event_loops() -> None:
    """Each worker process runs one loop, but the pools must not be tied to the loop that created them."""
    names = [
        asyncio.run(parse_off_loop(INLINE_PARSE_BYTES + 1, thread_name, str(i))) for i in range(2 * PARSE_THREADS + 1)
    ]
    assert len({name.split(":")[0] for name in names}) <= PARSE_THREADS
