//! Integration tests: rpc.
