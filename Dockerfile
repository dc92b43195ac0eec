# syntax=docker/dockerfile:1.7
# One image runs every process: `umbrella api|worker|cron <job>|migrate|admin …`.
#
#   docker build -t umbrella:dev .                      # the production image (target: runtime)
#   docker build --target dev -t umbrella:dev .         # Tilt's image: code under /app, reloads
#
# The runtime stage has no compiler, pip cache or source tree: only the virtualenv built in
# the builder stage, the migrations, and a non-root user with a fixed UID (10001) that the
# Helm chart's securityContext names. Nothing writes outside /tmp, so the root filesystem
# can be mounted read-only.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml README.md ./
RUN mkdir umbrella \
    && touch umbrella/__init__.py \
    && pip wheel --wheel-dir /wheels . \
    && rm /wheels/umbrella-*.whl
COPY umbrella ./umbrella
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/umbrella-*.whl \
    && /opt/venv/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/umbrella/umbrella
LABEL org.opencontainers.image.title="umbrella" \
      org.opencontainers.image.description="Umbrella backend: api, worker, cron jobs, migrations and operator commands" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.vendor="Umbrella" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/tmp \
    UMBRELLA_MIGRATIONS_DIR=/app/migrations
RUN groupadd --system --gid 10001 umbrella \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin umbrella
COPY --from=builder /opt/venv /opt/venv
COPY migrations /app/migrations
# Bytecode is compiled now: at run time the root filesystem is read-only.
RUN python -m compileall -q /app/migrations
WORKDIR /app
USER 10001:10001
# 8080: the api (UMBRELLA_PORT); 9090: the worker's /livez and /metrics (UMBRELLA_WORKER_METRICS_PORT).
EXPOSE 8080 9090
# No HEALTHCHECK: Kubernetes probes /livez and /readyz (see charts/umbrella).
ENTRYPOINT ["umbrella"]
CMD ["--help"]

# Tilt's image: the source under /app shadows the installed package (PYTHONPATH), live_update
# syncs it, and watchfiles restarts the api and the worker when a .py file changes.
FROM runtime AS dev
USER 0:0
RUN /opt/venv/bin/python -m ensurepip \
    && /opt/venv/bin/pip install --no-cache-dir watchfiles==1.3.0 \
    && chown -R 10001:10001 /opt/venv /app
COPY --chown=10001:10001 pyproject.toml README.md /app/
COPY --chown=10001:10001 umbrella /app/umbrella
COPY --chmod=0755 k8s/dev-entrypoint.sh /usr/local/bin/umbrella-dev
ENV PYTHONPATH=/app
USER 10001:10001
ENTRYPOINT ["umbrella-dev"]
CMD ["--help"]
