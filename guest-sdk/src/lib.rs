//! kiln-guest — the capability author SDK. Empty until issue #3.
