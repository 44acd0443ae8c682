"""Plain helpers the tests import: builders, waits, the `roost` command. No tests, no fixtures
(fixtures live in tests/conftest.py and the tests/lab/ plugins), so no test module imports another.
"""
