# syntax=docker/dockerfile:1
# Build stage: dependencies into a virtualenv that the runtime stage copies as a whole.
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN python -m venv /venv
COPY pyproject.toml README.md ./
COPY chatbackend ./chatbackend
COPY sessions_app ./sessions_app
COPY messaging_app ./messaging_app
COPY agents_app ./agents_app
RUN /venv/bin/pip install .

# Runtime stage: no compilers, a non-root user, the app and its virtualenv.
FROM python:3.12-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 DJANGO_ENV=production PORT=3006 LOG_DIR=/app/logs
RUN useradd --system --uid 10001 --home-dir /app chat
WORKDIR /app
COPY --from=build /venv /venv
# Owned by root: the user the app runs as can write only logs, staticfiles and var (below).
COPY . .
# The NLU model is built from the repo's data at image build time, deterministically, so a
# container is ready the moment it starts (no training, no download at run time).
RUN DJANGO_ENV=development python manage.py train_nlu --output var/nlu-model.skops \
    && mkdir -p logs staticfiles && chown -R chat:chat logs staticfiles var
USER chat
EXPOSE 3006
# With a Host from ALLOWED_HOSTS: Django answers 400 to any other, 127.0.0.1 included.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD python scripts/healthcheck.py
# Migrations run as a separate release step (docs/operations.md); the container only serves.
# uvicorn: as fast as daphne here, workers on one port, and sockets close with 1001 on SIGTERM
# (docs/benchmarks.md). WEB_CONCURRENCY=<cores> where no client long-polls Socket.IO.
# --ws-max-size: uvicorn buffers frames up to 16 MiB by default; past 1 MiB it closes the socket
# (1009) before buffering. Frames over WS_MAX_FRAME_BYTES below that get a frame_too_large error.
CMD ["sh", "-c", "exec uvicorn chatbackend.asgi:application --host 0.0.0.0 --port ${PORT} --workers ${WEB_CONCURRENCY:-1} --loop uvloop --http httptools --ws-per-message-deflate false --ws-max-size 1048576 --lifespan off --no-access-log --timeout-graceful-shutdown 15"]
