//! Integration tests: faults.
