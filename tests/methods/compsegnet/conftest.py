"""The spot fixtures of tests/data, shared by the CompSegNet pipeline tests."""

from tests.data.conftest import spots  # noqa: F401
