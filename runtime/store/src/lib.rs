//! kiln-store — content-addressed objects, registry and causal chain. Empty until issues #3/#4.
