"""spylib.modelling."""
