//! kiln-sandbox — wasmtime engine, limits and the guest ABI host side. Empty until issue #3.
