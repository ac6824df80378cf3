"""Events tests use the shared test world (``core.testing``)."""

from core.testing import world  # noqa: F401
