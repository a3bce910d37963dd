# syntax=docker/dockerfile:1
# Build stage: resolve the locked dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Runtime stage: the venv and the code, no build tools, not root.
FROM python:3.11-slim AS runtime
# UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN: app.run.API_STOP_GRACE (README "Stopping and rollouts").
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 API_HOST=0.0.0.0 \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=20
RUN useradd --system --uid 10001 --home /app viewledger
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
USER viewledger
EXPOSE 8000 9101
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live').status != 200)"
# The API by default; compose runs the worker and the migrations from the same image.
# As app.run.api_args: X-Forwarded-For is read by the app, from TRUSTED_PROXIES only; on
# SIGTERM uvicorn stops accepting and gives requests in flight UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN
# seconds to finish. `exec`: uvicorn replaces the shell, so the signal reaches it.
CMD ["sh", "-c", "exec uvicorn app.main:create_app --factory --host ${API_HOST} --port ${API_PORT:-8000} --no-access-log --no-proxy-headers"]
