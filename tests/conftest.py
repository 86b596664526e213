"""Every shared fixture lives in tests/support/fixtures.py; this only registers it for all tests."""

pytest_plugins = ["tests.support.fixtures"]
