"""Every Celery task's name, defined once: the API publishes by name, the workers register under it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TaskName"]


class TaskName(StrEnum):
    PING = "toh.ping"
    PROCESS_EVENT = "toh.process_event"
    SCREEN_DUE = "toh.screen_due"
    SCREEN_PATIENT = "toh.screen_patient"
    RESYNC = "toh.resync"
    CHECK_GAP = "toh.check_gap"
    SUBSCRIPTION_STATUS = "toh.subscription_status"
    BACKFILL_SCREEN = "toh.backfill_screen"
    RESCREEN = "toh.rescreen"
