"""The test suite, as a package: its modules import shared code as ``tests.helpers`` (rootdir on sys.path)."""
