"""Where data lives: S3 access with one endpoint rule, atomic local files, the Parquet lake, its
Glue/Athena catalog and DuckDB SQL over it."""
