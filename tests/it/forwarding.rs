//! Integration tests: forwarding.
