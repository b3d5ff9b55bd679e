"""Use cases: what the CLI and the HTTP API call. Each function does one user-level job."""
