"""Project-wide pytest setup. Generic only: the shared test world (users, organisations, …) is in
``core/testing.py``.

Note on ordering: pytest-django loads ``opchub.settings`` in its ``pytest_load_initial_conftests`` hook,
which runs *before* pytest imports this file. So the environment defaults below come too late for the
settings module itself; ``scripts/run-tests`` (``make test``) exports ``OPCHUB_TESTING=1`` before pytest
starts, and ``pytest_configure`` below refuses to run the suite on non-test settings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["core.testing"]

os.environ.setdefault("OPCHUB_TESTING", "1")
# live_server binds 127.0.0.1 on a free port (pytest-django's default is "localhost", which may be ::1).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1:0")

POSTGRES_SKIP_REASON = (
    "needs PostgreSQL (real parallel connections); runs in the PostgreSQL pass of make test"
)

_session_dir_key = pytest.StashKey[Path]()

try:  # hypothesis is a dev dependency; keep the conftest importable without it
    from hypothesis import settings as hypothesis_settings

    # No per-example deadline: examples hit the database and CI has two slow cores.
    hypothesis_settings.register_profile("opchub", deadline=None, print_blob=True)
    # CI starts from a fresh clone: no example database to keep.
    hypothesis_settings.register_profile("opchub-ci", deadline=None, print_blob=True, database=None)
    hypothesis_settings.load_profile(
        os.environ.get("HYPOTHESIS_PROFILE") or ("opchub-ci" if os.environ.get("CI") else "opchub")
    )
except ImportError:  # pragma: no cover
    pass


def _django_settings():
    from django.conf import settings

    return settings if settings.configured else None


def pytest_configure(config: pytest.Config) -> None:
    if config.option.help or config.option.version:
        return
    settings = _django_settings()
    if settings is None:
        return
    if not getattr(settings, "TESTING", False):
        raise pytest.UsageError(
            "opchub.settings were loaded without OPCHUB_TESTING=1 (pytest-django loads them before "
            "conftest.py runs). Use `make test` / `scripts/run-tests`, or run `OPCHUB_TESTING=1 pytest …`."
        )
    # Uploaded files and STATIC_ROOT go to a throw-away directory for the whole session. STATIC_ROOT must
    # exist: WhiteNoise warns about a missing one (an error under filterwarnings=error); with
    # WHITENOISE_USE_FINDERS the files themselves are served from static/ and the apps.
    session_dir = Path(tempfile.mkdtemp(prefix="opchub-test-"))
    (session_dir / "media").mkdir()
    (session_dir / "static").mkdir()
    settings.MEDIA_ROOT = session_dir / "media"
    settings.STATIC_ROOT = session_dir / "static"
    config.stash[_session_dir_key] = session_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    session_dir = config.stash.get(_session_dir_key, None)
    if session_dir is not None:
        shutil.rmtree(session_dir, ignore_errors=True)


def _database_vendor() -> str:
    settings = _django_settings()
    if settings is None:
        return "unknown"
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return "postgresql"
    if "sqlite" in engine:
        return "sqlite"
    return engine.rsplit(".", 1)[-1]


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = _django_settings()
    if settings is None:
        return None
    db = settings.DATABASES["default"]
    if _database_vendor() == "postgresql":
        test_name = (db.get("TEST") or {}).get("NAME") or f"test_{db['NAME']}"
        where = f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}"
        return f"database: PostgreSQL, test database {test_name} on {where}"
    if _database_vendor() == "sqlite":
        return "database: SQLite (in-memory test database); tests marked 'postgres' are skipped"
    return f"database: {db['ENGINE']}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _database_vendor() != "postgresql":
        skip_postgres = pytest.mark.skip(reason=POSTGRES_SKIP_REASON)
        for item in items:
            if item.get_closest_marker("postgres") is not None:
                item.add_marker(skip_postgres)
    # Browser tests last: a running Playwright session keeps an asyncio loop alive in the main thread,
    # which would break async_to_sync and Django's async-safety checks in any test that ran after it.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
