"""spylib.stats."""
