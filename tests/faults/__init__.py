"""Test-only helpers for the bad-input, fault, determinism and security tests (never imported by spylib)."""
