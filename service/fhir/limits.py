"""How much of a FHIR server's answers one record may take: bytes per response, bytes and resources per record.

A FHIR server that sends without end (100 MB chunked answers to each of a hook's nine queries took the API from
388 MB to 1.7 GB, for good) or a Bundle of 100,000 entries (a 3 s stall of the event loop) must cost a bounded
amount. Bodies are read as streams and counted as they arrive; past a limit, `TooLarge` says which one. The hooks
(service/cds/prefetch.py) and the workers (service/fhir/client.py) read every record through a `Budget`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.core.memory import release_freed_memory

if TYPE_CHECKING:
    from service.settings import Settings

__all__ = ["Budget", "RecordLimits", "TooLarge"]

TRIM_AFTER_BYTES = 4_000_000  # a record that read more than this gives the freed memory back to the OS


class TooLarge(Exception):
    """A response or a record went past its limit; the message says which (no data from the answer)."""


@dataclass(frozen=True)
class RecordLimits:
    response_bytes: int = 20_000_000
    record_bytes: int = 50_000_000
    entries: int = 10_000

    @classmethod
    def of(cls, settings: Settings) -> RecordLimits:
        return cls(settings.fhir_max_response_bytes, settings.fhir_max_record_bytes, settings.fhir_max_record_entries)


class Budget:
    """What one record has used so far. Thread-safe: the workers run a record's queries in threads."""

    def __init__(self, limits: RecordLimits) -> None:
        self.limits = limits
        self.bytes = 0
        self.entries = 0
        self._lock = threading.Lock()

    def announced(self, content_length: str | None) -> None:
        """Refuse at once a response whose Content-Length is already over the limit."""
        if content_length is not None and content_length.isdigit() and int(content_length) > self.limits.response_bytes:
            raise TooLarge(f"a response larger than {self.limits.response_bytes} bytes")

    def add(self, body: bytearray, chunk: bytes) -> None:
        """Append a chunk of a response to its body, counted against the response's and the record's limits."""
        if len(body) + len(chunk) > self.limits.response_bytes:
            raise TooLarge(f"a response larger than {self.limits.response_bytes} bytes")
        with self._lock:
            self.bytes += len(chunk)
            over = self.bytes > self.limits.record_bytes
        if over:
            raise TooLarge(f"a record larger than {self.limits.record_bytes} bytes")
        body += chunk

    def release(self) -> None:
        """After a large record, the memory it freed goes back to the OS (service/core/memory.py)."""
        if self.bytes > TRIM_AFTER_BYTES:
            release_freed_memory()

    def take_entries(self, count: int) -> None:
        with self._lock:
            self.entries += count
            over = self.entries > self.limits.entries
        if over:
            raise TooLarge(f"a record of more than {self.limits.entries} resources")
