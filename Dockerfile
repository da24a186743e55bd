# syntax=docker/dockerfile:1
# One image for the API, the workers and the subscribe job; the command picks the role (docker-compose.yml).
# Two stages: uv and the build live in the first; the image holds the runtime venv only, runs as a non-root user,
# and has no fixtures, tests or dev tools.
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first (cached until uv.lock changes), then the project itself, both exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-install-project
COPY service ./service
COPY workers ./workers
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    TOH_API_HOST=0.0.0.0 \
    TOH_LOG_JSON=true
RUN useradd --system --uid 10001 --no-create-home toh
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
USER toh
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=3)"]
CMD ["toh-cds", "api"]
