"""What every other package relies on: the errors, the table schemas, the config and settings types
and their validation, strict JSON, and the process facts (Metaflow user name, code version)."""
