"""What the flows' steps call: wiring only. ``training`` for SpyFlow, ``daily`` for PredictFlow,
``cards`` turns report items into Metaflow card components."""
