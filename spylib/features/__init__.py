"""spylib.features."""
