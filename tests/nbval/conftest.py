"""`make nbval`: printed numbers are compared within a stated tolerance (tests/numeric_compare.py)."""
from numeric_compare import install


def pytest_configure(config):
    install()
