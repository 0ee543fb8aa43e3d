"""Unit tier: pure functions on small synthetic frames; no Metaflow run, no moto server (``pytest tests/unit``)."""
