//! Integration tests: config_file.
