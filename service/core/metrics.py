"""Prometheus metrics: HTTP traffic measured in-process, queue and task figures read from Redis at scrape time.

With several API processes (`toh-cds api --workers N`) each writes its figures to files in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode) and any of them sums them all at a scrape. Queue depth and task outcomes
live in Redis, so they are right for any number of processes and containers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

__all__ = [
    "CARDS_SUPPRESSED",
    "CDS_RESPONSES",
    "FEEDBACK",
    "REQUESTS",
    "REQUEST_LATENCY",
    "QueueFigures",
    "process_stopped",
    "render_metrics",
    "shared_between_processes",
]

disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series only add noise here

REQUESTS = Counter("toh_http_requests", "HTTP requests served.", ["method", "route", "status"])
REQUEST_LATENCY = Histogram(
    "toh_http_request_duration_seconds",
    "HTTP request latency from first byte in to last byte out.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

CDS_RESPONSES = Counter(
    "toh_cds_responses", "CDS Hooks answers by service and where the cards came from.", ["service", "source"]
)
FEEDBACK = Counter(
    "toh_cds_feedback", "CDS Hooks feedback items stored, by service and outcome.", ["service", "outcome"]
)
CARDS_SUPPRESSED = Counter(
    "toh_cds_cards_suppressed", "Cards not shown again after an override, by override reason.", ["reason"]
)


class QueueFigures(Collector):
    """A one-scrape snapshot of what lives in Redis."""

    def __init__(
        self,
        queue_lengths: Mapping[str, int],
        unacked: int,
        task_outcomes: Mapping[tuple[str, str], int],
        dead_letters: int = 0,
        screenings: Mapping[str, int] | None = None,
        foreign_resources: Mapping[str, int] | None = None,
        *,
        rescreen_pending: int = 0,
        report_text_unread: Mapping[str, int] | None = None,
    ) -> None:
        self.queue_lengths = queue_lengths
        self.unacked = unacked
        self.task_outcomes = task_outcomes
        self.dead_letters = dead_letters
        self.screenings = screenings or {}
        self.foreign_resources = foreign_resources or {}
        self.rescreen_pending = rescreen_pending
        self.report_text_unread = report_text_unread or {}

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily("toh_celery_queue_length", "Tasks waiting in the broker.", labels=["queue"])
        for queue, length in sorted(self.queue_lengths.items()):
            depth.add_metric([queue], length)
        yield depth
        yield GaugeMetricFamily(
            "toh_celery_unacked_tasks", "Tasks delivered to a worker and not yet acknowledged.", value=self.unacked
        )
        outcomes = CounterMetricFamily(
            "toh_celery_task_outcomes", "Task executions by outcome, over all workers.", labels=["task", "outcome"]
        )
        for (task, outcome), count in sorted(self.task_outcomes.items()):
            outcomes.add_metric([task, outcome], count)
        yield outcomes
        screened = CounterMetricFamily(
            "toh_screenings",
            "Patient screenings by the workers: screened, then written-back (the assessment changed) or dead-lettered.",
            labels=["result"],
        )
        for result in ("screened", "written-back", "dead-lettered"):
            screened.add_metric([result], self.screenings.get(result, 0))
        yield screened
        foreign = CounterMetricFamily(
            "toh_foreign_resources",
            "Resources about another patient than the one asked for (prefetch or fetch of a hook, a worker's record query, "
            "a notification focus that contradicts its additional-context): dropped, never evidence.",
            labels=["path"],
        )
        for path in ("hook", "worker", "notification"):
            foreign.add_metric([path], self.foreign_resources.get(path, 0))
        yield foreign
        unread = CounterMetricFamily(
            "toh_report_text_unread",
            "Parts of radiology reports whose text was not read (too large, binary, another content type, a URL only, "
            "bad base64, malformed), by hooks and workers: the evidence trail says so too.",
            labels=["reason"],
        )
        for reason, count in sorted(self.report_text_unread.items()):
            unread.add_metric([reason], count)
        yield unread
        yield GaugeMetricFamily(
            "toh_rescreen_pending",
            "Patients waiting to be screened again after a rules version change (TOH_RESCREEN_PER_SECOND).",
            value=self.rescreen_pending,
        )
        yield GaugeMetricFamily(
            "toh_dead_letters", "Work that failed permanently (see `toh-cds dead-letters`).", value=self.dead_letters
        )


MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_between_processes(shared: bool) -> Iterator[None]:
    """For the processes started within: a PROMETHEUS_MULTIPROC_DIR that starts empty, as prometheus_client requires
    (the one set is emptied, else a temporary one is made and removed after). Set before the processes import
    prometheus_client, which reads it at import."""
    given = os.environ.get(MULTIPROCESS_DIR)
    if not shared:
        yield
    elif given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield
    else:
        with tempfile.TemporaryDirectory(prefix="toh-metrics-") as scratch:
            os.environ[MULTIPROCESS_DIR] = scratch
            try:
                yield
            finally:
                del os.environ[MULTIPROCESS_DIR]


def process_stopped() -> None:
    """This process leaves the sums of live gauges (prometheus_client's `mark_process_dead`); its counters stay."""
    if MULTIPROCESS_DIR in os.environ:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def render_metrics(snapshot: QueueFigures | None) -> bytes:
    if MULTIPROCESS_DIR in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if snapshot is not None:
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(snapshot)
        text += generate_latest(scrape)
    return text
