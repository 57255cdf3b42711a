"""A PostgreSQL cluster kept in a folder between runs (the scale benchmark's data set lives there).

Made once with ``initdb`` (trust authentication, UTF-8, fsync off: a benchmark's data, never a
production one), started on a free port of 127.0.0.1 for a run and stopped after it by
``pg_ctl`` (which signals the postmaster of its own ``postmaster.pid``). As root, the cluster
runs as the ``postgres`` user, which PostgreSQL requires; the folder is then owned by it.
``scripts/test-services`` starts throwaway clusters the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .processes import free_port

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Cluster:
    """``folder/data`` (the cluster), ``folder/sock`` (its socket), ``folder/postgres.log``."""

    def __init__(self, folder: Path, *, settings: dict[str, str] | None = None):
        self.folder = folder
        self.data = folder / "data"
        self.socket = folder / "sock"
        self.log = folder / "postgres.log"
        self.settings = settings or {}
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        subprocess.run(_as_owner(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def ensure(self) -> bool:
        """``initdb`` unless the cluster exists; True when it was made now."""
        if (self.data / "PG_VERSION").exists():
            return False
        if not os.access(PGBIN / "initdb", os.X_OK):
            raise RuntimeError(f"{PGBIN / 'initdb'} not found (scripts/ensure-system-packages installs PostgreSQL 15)")
        shutil.rmtree(self.data, ignore_errors=True)  # a half-made one
        for path in (self.folder, self.data, self.socket):
            path.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        self.folder.chmod(0o755)
        self.data.chmod(0o700)
        self._run([str(PGBIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--locale=C.UTF-8", "--no-sync"])
        return True

    def start(self) -> str:
        """Start on a free port; returns the URL. One a stopped run left running is stopped first."""
        self.stop()
        self.port = free_port()
        options = {"listen_addresses": "127.0.0.1", "fsync": "off", "synchronous_commit": "off",
                   "full_page_writes": "off", **self.settings}
        flags = " ".join([f"-p {self.port}", f"-k {self.socket}", *(f"-c {k}={v}" for k, v in options.items())])
        self._run([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120", "-o", flags, "start"])
        return self.url

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"])

    def __enter__(self) -> Cluster:
        self.ensure()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
