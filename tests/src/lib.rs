//! Workspace-level integration tests live in `all/`.
