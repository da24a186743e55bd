"""Request-scoped access to what the lifespan owns, as Annotated aliases.

The providers are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool, a thread hop
per dependency per request for what is only an attribute read.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import redis.asyncio as aioredis
from celery import Celery
from fastapi import Depends, Request

from service.pipeline.publisher import TaskPublisher
from service.settings import Settings

__all__ = ["CeleryDep", "HttpDep", "PublisherDep", "RedisDep", "SettingsDep"]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.state.redis
    return client


async def _http(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.state.http
    return client


async def _celery(request: Request) -> Celery:
    celery: Celery = request.state.celery
    return celery


SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[aioredis.Redis, Depends(_redis)]
HttpDep = Annotated[httpx.AsyncClient, Depends(_http)]


async def _publisher(request: Request) -> TaskPublisher:
    publisher: TaskPublisher = request.state.publisher
    return publisher


CeleryDep = Annotated[Celery, Depends(_celery)]
PublisherDep = Annotated[TaskPublisher, Depends(_publisher)]
