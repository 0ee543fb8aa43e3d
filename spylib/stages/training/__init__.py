"""SpyFlow's steps: one wiring module per step (``ingest``, ``features``, ``split``, ``train``,
``evaluate``, ``predict``, ``register``, ``publish`` for ``end``), the values they pass
(``artifacts``) and the end-of-run summary."""
