"""How every `umbrella` process starts: its settings, then its logs and traces.

The CLI's commands and `umbrella admin` start here; a missing or invalid setting exits 78
with one line that names it.
"""

from __future__ import annotations

import sys
from typing import TextIO

from umbrella.config import Settings, SettingsError, load_settings

# A missing or invalid `UMBRELLA_*` setting (sysexits' EX_CONFIG).
EXIT_CONFIG = 78


def settings_or_exit(process: str, *, log_stream: TextIO | None = None) -> Settings:
    """The settings, or exit 78 naming the bad one; then logging and tracing are set up."""
    from umbrella.observability.logging import configure_logging
    from umbrella.observability.tracing import configure_tracing

    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"umbrella {process}: {error}\n")
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(settings, process=process, stream=log_stream)
    configure_tracing(process=process)
    return settings
