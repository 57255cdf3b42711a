"""``portal.settings`` as it is, except that the folder broker lives in ``BENCH_BROKER_DIR``.

The benchmarks must not share ``var/broker`` with a ``make run`` on the same checkout (its worker
would take their messages), and ``portal.settings`` has no variable for that folder.
"""

from pathlib import Path

from portal.settings import *  # noqa: F403
from portal.settings import CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_BROKER_URL, env

if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = Path(env("BENCH_BROKER_DIR"))
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
    }
