"""Docker tier: the AWS Batch proof in a local Docker engine (``pytest -m docker``; deselected by default)."""
