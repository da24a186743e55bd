"""Where a patient-view's time goes: the API in-process under cProfile, 50 distinct patients, a fresh RS384 JWT per
request, inline screening (no precomputed cards). `python -m bench.profile_hook` prints the cumulative time of the
parts issue 18 names, per request. In-process, so uvicorn's own HTTP parsing is not in it (see make bench)."""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import tempfile
from pathlib import Path

import httpx

from bench.bodies import hook_body, scenario_resources
from bench.stack import ISSUER, Keys
from service.ops.redis_server import RedisServer

PATIENTS = 50
REQUESTS = 400
# Part of the request -> functions whose cumulative time is that part (file suffix, function name).
PARTS = {
    "JWT parse and verify": [("jwt/api_jws.py", "decode_complete")],
    "replay check (Redis)": [("service/cds/auth.py", "_first_use")],
    "body parse": [("service/api/body.py", "read_json_body")],
    "request model": [("pydantic/main.py", "model_validate")],
    "record assembly": [("service/cds/prefetch.py", "gather_record")],
    "screening": [("service/screening/rules.py", "assess"), ("service/screening/orders.py", "order_outcomes")],
    "card rendering": [("service/cds/cards.py", "cards")],
    "snooze check and evidence writes": [("service/cds/hooks.py", "_without_snoozed")],
    "response encoding": [("starlette/responses.py", "render")],
    "logging": [("structlog/_base.py", "_process_event")],
    "whole request (in-process)": [("service/core/middleware.py", "__call__")],
}


async def run(app: object, bodies: list[bytes], tokens: list[str]) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for index in range(len(tokens)):
            response = await client.post(
                "/cds-services/toh-patient-view", content=bodies[index % len(bodies)],
                headers={"Authorization": f"Bearer {tokens[index]}", "Content-Type": "application/json"},
            )  # fmt: skip
            assert response.status_code == 200, response.text


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="toh-profile-"))
    redis = RedisServer(scratch / "redis").start()
    keys = Keys()
    os.environ.update(TOH_REDIS_URL=redis.url, TOH_PUBLIC_BASE_URL="http://bench", TOH_LOG_JSON="true",
                      TOH_CDS_ISSUERS=json.dumps({ISSUER: {"jwks": keys.jwks}}), TOH_LOG_LEVEL="INFO")  # fmt: skip
    from service.main import create_app
    from service.settings import get_settings

    app = create_app(get_settings())
    bodies = [hook_body("patient-view", scenario_resources("seed-2", f"bench-{n}")) for n in range(PATIENTS)]
    tokens = keys.tokens("RS384", "http://bench/cds-services/toh-patient-view", REQUESTS + 5)

    async def profiled() -> None:
        async with app.router.lifespan_context(app) as state:  # type: ignore[attr-defined]

            async def with_state(scope: dict, receive: object, send: object) -> None:  # what uvicorn's lifespan does
                scope["state"] = dict(state)
                await app(scope, receive, send)  # type: ignore[operator]

            await run(with_state, bodies[:5], tokens[:5])  # warm
            profile = cProfile.Profile()
            profile.enable()
            await run(with_state, bodies, tokens[5 : REQUESTS + 5])
            profile.disable()
            stats = pstats.Stats(profile)
            totals = {}
            for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
                for part, functions in PARTS.items():
                    if any(file.endswith(suffix) and name == function for suffix, function in functions):
                        totals[part] = totals.get(part, 0.0) + cumulative
            for part in PARTS:
                print(f"{part:36} {totals.get(part, 0.0) / REQUESTS * 1e3:7.2f} ms per request")  # noqa: T201
            if os.environ.get("PROFILE_TOP"):
                stats.sort_stats("cumulative").print_stats(int(os.environ["PROFILE_TOP"]))

    try:
        asyncio.run(profiled())
    finally:
        keys.pool.shutdown()
        redis.stop(5)


if __name__ == "__main__":
    main()
