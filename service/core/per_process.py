"""One instance per OS process, for clients and pools that must not cross a fork (Celery prefork children)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerProcess"]

T = TypeVar("T")


class PerProcess(Generic[T]):
    """`PerProcess(make)()` gives this process's instance, made on first use and made again after a fork."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._owner: int | None = None
        self._value: T | None = None

    def __call__(self) -> T:
        if self._owner != os.getpid() or self._value is None:
            self._value = self._make()
            self._owner = os.getpid()
        return self._value
