//! Workspace-level integration tests live in `all/`.

#![forbid(unsafe_code)]
