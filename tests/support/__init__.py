"""Plain helpers the tests import as `tests.support.<module>`; fixtures stay in conftest.py files."""
