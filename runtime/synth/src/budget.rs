//! The deterministic budget of one search.

/// The deterministic budget of one search: counts, never time.
///
/// ```
/// let b = kiln_synth::Budget::default();
/// assert_eq!((b.nodes, b.steps), (1_000_000, 10_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Candidate terms the search may build and evaluate, over all its banks.
    pub nodes: u64,
    /// Evaluation steps per candidate run on one example (the RTFS interpreter's `Limits`).
    pub steps: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            nodes: 1_000_000,
            steps: 10_000,
        }
    }
}
