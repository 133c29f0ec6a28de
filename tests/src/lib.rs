//! Cross-service journeys live in `tests/`; this crate has no library code.
