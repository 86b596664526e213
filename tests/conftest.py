"""Every shared fixture lives in tests/support/fixtures.py, the lanes and the parallel split in
tests/support/parallel.py; this only registers them for all tests."""

pytest_plugins = ["tests.support.fixtures", "tests.support.parallel", "tests.support.gateway_figures"]
