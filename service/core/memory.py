"""Memory the API took for a large answer goes back to the OS once it is freed (glibc only; a no-op elsewhere).

glibc keeps freed heap memory for reuse, and raises its mmap threshold as large blocks come and go, so a flood of
large FHIR answers left the API at 150 MB where it had been at 93 MB, for good. Two calls into the allocator:
`large_blocks_mapped()` at start-up keeps blocks of 64 KiB and more (socket reads, response bodies) in their own
mappings, returned when freed; `release_freed_memory()` (a collection, then malloc_trim) after a record that read
megabytes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from typing import Any

__all__ = ["large_blocks_mapped", "release_freed_memory"]

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter; setting it also stops the threshold from growing
LARGE_BLOCK_BYTES = 64 * 1024


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_glibc = _libc()


def large_blocks_mapped() -> None:
    if _glibc is not None:
        _glibc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)


_pending = False  # a release is scheduled on the event loop
RELEASE_DELAY_SECONDS = 1.0


def _collect_and_trim() -> None:
    global _pending
    _pending = False
    gc.collect()
    _glibc.malloc_trim(0)


def release_freed_memory() -> None:
    """Trim now, and on an event loop collect and trim again a second later (once, however many large records asked
    meanwhile). Part of what a large record leaves is cyclic garbage (exceptions, their tracebacks, the frames and
    connections they hold) that only the cyclic collector frees, some of it reachable until the answer has gone
    out: trimmed at once only, the API measured 97-156 MiB after flooded hooks against 90 MiB quiet, and once 128 MiB
    after the attack; with the second pass, 87-89 MiB. It is a full collection (about 60 ms here, so at most once a
    second): a young-generation one, run while another hook was in flight, promoted that hook's garbage out of
    reach and left the API at 134 MiB."""
    global _pending
    if _glibc is None:
        return
    _glibc.malloc_trim(0)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a worker: its record is done with when it asks
        return
    if not _pending:
        _pending = True
        loop.call_later(RELEASE_DELAY_SECONDS, _collect_and_trim)
