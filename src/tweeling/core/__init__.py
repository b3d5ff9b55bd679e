"""Pure domain types and semantics of the twin. No I/O lives here."""
