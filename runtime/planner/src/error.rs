//! What the planner refuses, and why — each message says what to fix.

/// A planner error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A dataset that is not a non-empty vector of records.
    #[error("dataset {0}")]
    Dataset(String),
    /// A goal the reader cannot make sense of.
    #[error("{0}")]
    Goal(String),
    /// Words of the goal that are neither the closed vocabulary nor the data's.
    #[error(
        "the goal has words the planner does not know: {}. It reads counts, totals, averages, highest/lowest, grouping (by, per, for each), comparisons (over, under, before, after, more than), top N, sorted by and distinct, over the fields of {dataset} ({}) and their values",
        words.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", "),
        fields.join(", ")
    )]
    Unknown {
        /// The words.
        words: Vec<String>,
        /// The dataset the goal was read against.
        dataset: String,
        /// Its fields.
        fields: Vec<String>,
    },
    /// An intent that is not one the planner made (a field missing or of the wrong kind).
    #[error("intent: {0}")]
    Intent(String),
    /// A plan that cannot be generated.
    #[error("plan: {0}")]
    Plan(String),
}
