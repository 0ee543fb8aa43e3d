"""Where data lives: S3 access with one endpoint rule and one timeout/retry budget, atomic local files,
the Parquet lake (flow runs staged and published on success), its Glue/Athena catalog, DuckDB SQL over
it, and the write probes ``start`` runs."""
