"""Prometheus metrics: HTTP traffic measured in-process, queue and task figures read from Redis at scrape time.

With several API processes, set PROMETHEUS_MULTIPROC_DIR (wiped before start) and the HTTP metrics are summed
across them; queue depth and task outcomes live in Redis, so they are right for any number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

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
    "render_metrics",
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
    ) -> None:
        self.queue_lengths = queue_lengths
        self.unacked = unacked
        self.task_outcomes = task_outcomes
        self.dead_letters = dead_letters
        self.screenings = screenings or {}
        self.foreign_resources = foreign_resources or {}

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
        yield GaugeMetricFamily(
            "toh_dead_letters", "Work that failed permanently (see `toh-cds dead-letters`).", value=self.dead_letters
        )


def render_metrics(snapshot: QueueFigures | None) -> bytes:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
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
