# syntax=docker/dockerfile:1.7
# One image runs every process: `umbrella api|worker|cron <job>|migrate|admin …`.
#
#   docker build -t umbrella:dev .                      # the production image (target: runtime)
#   docker build --target dev -t umbrella:dev .         # Tilt's image: code under /app, reloads
#
# Everything installed comes from the hashed lock files in requirements/ (`make lock`
# updates them), so two builds of one commit install the same packages. The runtime stage
# has no compiler, pip, setuptools or source tree: only the virtualenv built in the builder
# stage, the migrations, and a non-root user with a fixed UID (10001) that the Helm chart's
# securityContext names. Nothing writes outside /tmp, so the root filesystem can be
# mounted read-only. tests/image builds and runs both targets (make image-test).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, from the lock alone: this layer is rebuilt only when it changes.
# /opt/build holds the installer and the build backend; /opt/venv, what ships, gets
# neither (created without pip, filled by /opt/build's pip through --python).
COPY requirements/build.txt requirements/runtime.txt requirements/
RUN python -m venv /opt/build \
    && /opt/build/bin/python -m pip install --quiet --no-deps --require-hashes \
       -r requirements/build.txt \
    && python -m venv --without-pip /opt/venv \
    && /opt/build/bin/python -m pip --python /opt/venv/bin/python install --quiet --no-deps \
       --require-hashes --only-binary :all: -r requirements/runtime.txt
# The application in a fresh directory: no build/ of an earlier pass can stand in for it.
COPY pyproject.toml README.md /src/app/
COPY umbrella /src/app/umbrella
RUN /opt/build/bin/python -m pip wheel --quiet --no-deps --no-build-isolation \
       --wheel-dir /wheels /src/app \
    && /opt/build/bin/python -m pip --python /opt/venv/bin/python install --quiet --no-deps \
       /wheels/umbrella-*.whl \
    # Piccolo's wheel ships its own test suite as a top-level `tests` package.
    && rm -rf /opt/venv/lib/python3.11/site-packages/tests \
    # A read-only root needs bytecode compiled now, without timestamps that differ per
    # build; not for the twilio REST domains we never call (26 MB: only `api` sends texts).
    && find /opt/venv -depth -type d -name __pycache__ -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
       -x '/twilio/rest/(?!api/)[a-z_]+/' /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
# Re-declared: an ARG before the first FROM is not visible inside a stage.
ARG PYTHON_IMAGE
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
RUN python -m compileall -q --invalidation-mode unchecked-hash /app/migrations
WORKDIR /app
USER 10001:10001
# 8080: the api (UMBRELLA_PORT); 9090: the worker's /livez and /metrics (UMBRELLA_WORKER_METRICS_PORT).
EXPOSE 8080 9090
# No HEALTHCHECK: Kubernetes probes /livez and /readyz (see charts/umbrella).
ENTRYPOINT ["umbrella"]
CMD ["--help"]

# Tilt's image: the source under /app shadows the installed package (PYTHONPATH), live_update
# syncs it, and watchfiles restarts the api and the worker when a .py file changes. It has
# pip (`/opt/venv/bin/python -m pip`), so Tilt can install a changed pyproject.toml.
FROM runtime AS dev
USER 0:0
COPY requirements/image-dev.txt /tmp/image-dev.txt
RUN /opt/venv/bin/python -m ensurepip --default-pip \
    && /opt/venv/bin/python -m pip install --quiet --no-cache-dir --no-deps --require-hashes \
       -r /tmp/image-dev.txt \
    && rm /tmp/image-dev.txt \
    && chown -R 10001:10001 /opt/venv /app
COPY --chown=10001:10001 pyproject.toml README.md /app/
COPY --chown=10001:10001 umbrella /app/umbrella
COPY --chmod=0755 k8s/dev-entrypoint.sh /usr/local/bin/umbrella-dev
ENV PYTHONPATH=/app
USER 10001:10001
ENTRYPOINT ["umbrella-dev"]
CMD ["--help"]
