"""Flow tier: real runs through ``metaflow.Runner`` on the session's isolated local datastore."""
