#!/bin/sh
# Entrypoint of the dev image (Dockerfile target `dev`, built by Tilt). Tilt's live_update
# syncs umbrella/ into /app; watchfiles then restarts the long-running processes (api,
# worker) with SIGINT, which they handle like SIGTERM. One-shot commands (migrate, cron,
# admin) run as they are, so their Jobs still complete.
set -eu
case "${1:-}" in
  api | worker)
    exec watchfiles --target-type command --filter python --sigint-timeout 30 \
      "umbrella $*" /app/umbrella
    ;;
  *)
    exec umbrella "$@"
    ;;
esac
