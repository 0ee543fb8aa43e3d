"""spylib.data."""
