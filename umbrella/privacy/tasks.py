"""Worker entry points of the privacy domain."""

from __future__ import annotations

from umbrella.core.jobs import JobSpec

JOBS: tuple[JobSpec, ...] = ()
