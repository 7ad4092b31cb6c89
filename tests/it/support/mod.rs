//! Test support: port-0 fake upstream and in-process aggregator.
