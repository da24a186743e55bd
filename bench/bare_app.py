"""The reference of the CDS benchmark: a bare FastAPI handler that parses the same body and returns a fixed card."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()
CARD = {
    "cards": [
        {
            "uuid": "6f1c5d2e-0000-4000-8000-000000000000",
            "summary": "Hip pain in pregnancy or postpartum: consider transient osteoporosis of the hip.",
            "indicator": "warning",
            "source": {"label": "bare handler"},
        }
    ]
}


@app.post("/cds-services/{service_id}")
async def hook(service_id: str, request: Request) -> dict[str, Any]:
    await request.json()
    return CARD
