"""Memory the API took for a large answer goes back to the OS once it is freed (glibc only; a no-op elsewhere).

glibc keeps freed heap memory for reuse, and raises its mmap threshold as large blocks come and go, so a flood of
large FHIR answers left the API at 150 MB where it had been at 93 MB, for good. Two calls into the allocator:
`large_blocks_mapped()` at start-up keeps blocks of 64 KiB and more (socket reads, response bodies) in their own
mappings, returned when freed; `release_freed_memory()` (malloc_trim) after a record that read megabytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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


def release_freed_memory() -> None:
    if _glibc is not None:
        _glibc.malloc_trim(0)
