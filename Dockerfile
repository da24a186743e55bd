# syntax=docker/dockerfile:1
# One image for the API and the workers; the command picks the role (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app

# Dependencies first (cached until uv.lock changes), then the project itself, both exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-install-project
COPY service ./service
COPY workers ./workers
COPY fixtures ./fixtures
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable

RUN useradd --system --uid 10001 --no-create-home toh
USER toh
EXPOSE 8080
CMD ["toh-cds", "api", "--host", "0.0.0.0", "--port", "8080"]
