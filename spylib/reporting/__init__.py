"""spylib.reporting."""
