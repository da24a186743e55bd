"""`.data/run.json`: what a running `toh-cds run` started and where, so that the other commands find it.

Written by the supervisor once every child listens, removed when it stops. It holds URLs and file paths only: the
dev issuer's private key stays in its own file (mode 0600), and the notify token is never written here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

__all__ = ["RunInfo"]

FILE_NAME = "run.json"


@dataclass(frozen=True)
class RunInfo:
    pid: int
    api: str  # the API's base URL
    redis_url: str
    fhir_base: str | None = None  # the embedded FHIR server, when there is one
    issuer: str | None = None  # the dev CDS issuer that `toh-cds hook` signs as
    kid: str | None = None
    private_key_file: str | None = None

    def write(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / FILE_NAME
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        partial.replace(path)  # readers never see half a file

    @staticmethod
    def remove(data_dir: Path) -> None:
        (data_dir / FILE_NAME).unlink(missing_ok=True)

    @classmethod
    def read(cls, data_dir: Path) -> RunInfo | None:
        """The running supervisor's info; None when there is none (no file, unreadable, or its process is gone)."""
        try:
            data = json.loads((data_dir / FILE_NAME).read_text())
            info = cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
            os.kill(info.pid, 0)  # signal 0: only asks whether the process exists
        except (OSError, ValueError, TypeError):
            return None
        return info
