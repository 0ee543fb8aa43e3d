"""spylib.evaluation."""
