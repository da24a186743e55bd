"""An embedded FHIR server for `toh-cds run` when TOH_FHIR_BASE_URL is unset: sekmet-fhir from its own venv
(`make run` installs it, pinned by hash, in `.venv-sekmet/`), on loopback, its SQLite data under `.data/fhir/`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from service.ops.children import StartFailed, stop_child, wait_until_answers

__all__ = ["EmbeddedFhir", "FhirServerMissing", "sekmet_command"]

SOURCE_TREE = Path(__file__).resolve().parents[2]


class FhirServerMissing(RuntimeError):
    """No sekmet-fhir to start: the message says how to get one."""


def sekmet_command(configured: str | None) -> str:
    """The sekmet executable: the configured one, else the source tree's `.venv-sekmet`, else one on PATH."""
    for candidate in (configured, str(SOURCE_TREE / ".venv-sekmet" / "bin" / "sekmet"), shutil.which("sekmet")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FhirServerMissing(
        "no embedded FHIR server: run `make run` (it installs sekmet-fhir in .venv-sekmet), "
        "set TOH_EMBEDDED_FHIR_COMMAND, or point TOH_FHIR_BASE_URL at a FHIR server"
    )


class EmbeddedFhir:
    def __init__(self, data_dir: Path, port: int, command: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.command = command
        self.base_url = f"http://127.0.0.1:{port}/fhir"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, preexec_fn: Callable[[], None] | None = None, timeout: float = 60.0) -> EmbeddedFhir:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = self.data_dir / "settings.yaml"
        settings.write_text(
            f"base_url: {self.base_url}\nhost: 127.0.0.1\nport: {self.port}\ndata_dir: {self.data_dir / 'data'}\n"
            "simulator: {enabled: false}\nsubscriptions: {notify_method: post-endpoint}\n"
        )
        log = (self.data_dir / "sekmet.log").open("ab")
        self.process = subprocess.Popen(
            [self.command, "serve", "-c", str(settings)],
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
            start_new_session=True,
        )
        log.close()
        self._wait_until_serving(timeout)
        return self

    def _wait_until_serving(self, timeout: float) -> None:
        def gone() -> str | None:
            assert self.process is not None
            if self.process.poll() is None:
                return None
            return f"the embedded FHIR server exited with {self.process.returncode}: see {self.data_dir}/sekmet.log"

        try:
            wait_until_answers(f"{self.base_url}/metadata", lambda answer: answer.status_code == 200,
                               timeout=timeout, gone=gone, what=f"the embedded FHIR server (log: {self.data_dir}/sekmet.log)",
                               interval=0.2)  # fmt: skip
        except StartFailed:
            self.stop(5)
            raise

    def stop(self, timeout: float) -> None:
        if self.process is not None:
            stop_child(self.process, timeout)
