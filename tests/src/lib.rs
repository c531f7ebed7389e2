//! Differential conformance suite (see `conformance/`).
