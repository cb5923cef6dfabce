//! What a goal asks of a dataset, once read: filters, an optional grouping, what to compute,
//! an optional ranking or order — and the steps that compute it, each a small function from
//! the previous steps' values to the next. A step knows what it means (its reference, an RTFS
//! function, used only to compute the expected outputs of its examples; the synthesizer never
//! sees it), how it is named and described, and its parameters' schemas.

use rtfs::Value;

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Cmp {
    /// The RTFS builtin.
    pub fn op(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }

    /// The word in a capability's name.
    pub fn word(self) -> &'static str {
        match self {
            Cmp::Gt => "over",
            Cmp::Ge => "at-least",
            Cmp::Lt => "under",
            Cmp::Le => "at-most",
        }
    }
}

/// A filter on records.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// The field equals a value.
    Eq {
        /// The field.
        field: String,
        /// The value.
        value: Value,
    },
    /// The field compares with a number.
    Cmp {
        /// The field.
        field: String,
        /// How.
        op: Cmp,
        /// The number.
        n: Value,
    },
    /// The (list) field includes a value.
    Has {
        /// The field.
        field: String,
        /// The element.
        value: String,
    },
    /// The (boolean) field is true, or false.
    Is {
        /// The field.
        field: String,
        /// Which.
        truth: bool,
    },
}

/// What to compute over the (filtered, perhaps grouped) records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// How many.
    Count,
    /// The sum of a field.
    Sum(String),
    /// The average of a field (a float).
    Avg(String),
    /// The smallest value of a field.
    Min(String),
    /// The largest value of a field.
    Max(String),
    /// A field's values, in the data's order.
    List(String),
    /// A field's distinct values, in order of first appearance.
    Distinct(String),
    /// How many distinct values a field has.
    CountDistinct(String),
    /// The records themselves.
    Rows,
}

impl Metric {
    /// The field it reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Metric::Sum(f)
            | Metric::Avg(f)
            | Metric::Min(f)
            | Metric::Max(f)
            | Metric::List(f)
            | Metric::Distinct(f)
            | Metric::CountDistinct(f) => Some(f),
            Metric::Count | Metric::Rows => None,
        }
    }
}

/// A goal, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The dataset.
    pub dataset: String,
    /// Filters, applied first, in the goal's order.
    pub filters: Vec<Filter>,
    /// The field to group by (a list field groups by each element).
    pub group: Option<String>,
    /// Whether the group field holds lists.
    pub group_is_list: bool,
    /// What to compute.
    pub metric: Metric,
    /// Keep only the first N (largest first) of the groups or records.
    pub top: Option<i64>,
    /// The field records are ranked by, for a top N without grouping.
    pub rank_by: Option<String>,
    /// Order records by a field (descending when true).
    pub order: Option<(String, bool)>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Records → the records passing a filter.
    Filter(Filter),
    /// Records → one record per element of a list field, the field holding that element.
    Explode(String),
    /// Records → a value.
    Compute(Metric),
    /// Records → a map from each group value to the metric of its records.
    Group {
        /// The field.
        field: String,
        /// It holds lists (each element a group).
        list: bool,
        /// What each group gets.
        metric: Metric,
    },
    /// (keys in order, a map from key to a number, n) → the n keys with the largest numbers,
    /// ties in the keys' order.
    RankKeys,
    /// (records, n) → the n records with the largest value of the field, ties in order.
    TopRows(String),
    /// Records → the records ordered by a field.
    Sort {
        /// The field.
        field: String,
        /// Largest first.
        desc: bool,
    },
}

fn kw(f: &str) -> String {
    format!(":{f}")
}

/// An RTFS string literal.
pub fn literal(v: &Value) -> String {
    rtfs::print::print(v)
}

fn metric_of(m: &Metric, rows: &str) -> String {
    match m {
        Metric::Count => format!("(count {rows})"),
        Metric::Sum(f) => format!("(reduce + 0 (keep {} {rows}))", kw(f)),
        Metric::Avg(f) => format!(
            "(let [xs (keep {} {rows})] (if (empty? xs) nil (float (/ (reduce + 0 xs) (count xs)))))",
            kw(f)
        ),
        Metric::Min(f) => format!(
            "(let [xs (keep {} {rows})] (if (empty? xs) nil (reduce min xs)))",
            kw(f)
        ),
        Metric::Max(f) => format!(
            "(let [xs (keep {} {rows})] (if (empty? xs) nil (reduce max xs)))",
            kw(f)
        ),
        Metric::List(f) => format!("(keep {} {rows})", kw(f)),
        Metric::Distinct(f) => format!("(distinct (keep {} {rows}))", kw(f)),
        Metric::CountDistinct(f) => format!("(count (distinct (keep {} {rows})))", kw(f)),
        Metric::Rows => rows.to_string(),
    }
}

impl Step {
    /// The parameters: (name, what it is) — `rows` first, then the step's constants.
    pub fn params(&self) -> Vec<&'static str> {
        match self {
            Step::Filter(Filter::Eq { .. }) | Step::Filter(Filter::Has { .. }) => {
                vec!["rows", "value"]
            }
            Step::Filter(Filter::Cmp { .. }) => vec!["rows", "n"],
            Step::RankKeys => vec!["ks", "m", "n"],
            Step::TopRows(_) => vec!["rows", "n"],
            _ => vec!["rows"],
        }
    }

    /// The constants the plan passes after the data (the filter's value, the N of a top N).
    pub fn constants(&self, top: Option<i64>) -> Vec<Value> {
        match self {
            Step::Filter(Filter::Eq { value, .. }) => vec![value.clone()],
            Step::Filter(Filter::Has { value, .. }) => vec![Value::str(value)],
            Step::Filter(Filter::Cmp { n, .. }) => vec![n.clone()],
            Step::RankKeys | Step::TopRows(_) => vec![Value::Int(top.unwrap_or(1))],
            _ => Vec::new(),
        }
    }

    /// The reference: an RTFS `(fn [params…] …)` that computes the step exactly.
    pub fn reference(&self) -> String {
        match self {
            Step::Filter(Filter::Eq { field, .. }) => format!(
                "(fn [rows value] (filter (fn [r] (= (get r {}) value)) rows))",
                kw(field)
            ),
            Step::Filter(Filter::Has { field, .. }) => format!(
                "(fn [rows value] (filter (fn [r] (some (fn [t] (= t value)) (get r {}))) rows))",
                kw(field)
            ),
            Step::Filter(Filter::Cmp { field, op, .. }) => format!(
                "(fn [rows n] (filter (fn [r] (let [x (get r {})] (and (number? x) ({} x n)))) rows))",
                kw(field),
                op.op()
            ),
            Step::Filter(Filter::Is { field, truth }) => format!(
                "(fn [rows] (filter (fn [r] (= (get r {}) {truth})) rows))",
                kw(field)
            ),
            Step::Explode(f) => format!(
                "(fn [rows] (mapcat (fn [r] (map (fn [t] (assoc r {0} t)) (get r {0}))) rows))",
                kw(f)
            ),
            Step::Compute(m) => format!("(fn [rows] {})", metric_of(m, "rows")),
            Step::Group {
                field,
                list: true,
                metric: Metric::Count,
            } => format!("(fn [rows] (frequencies (mapcat {} rows)))", kw(field)),
            Step::Group { field, metric, .. } => format!(
                "(fn [rows] (update-vals (group-by {0} (filter (fn [r] (some? (get r {0}))) rows)) (fn [g] {1})))",
                kw(field),
                metric_of(metric, "g")
            ),
            Step::RankKeys => "(fn [ks m n] (take n (sort-by m > ks)))".into(),
            Step::TopRows(f) => format!(
                "(fn [rows n] (take n (sort-by {0} > (filter (fn [r] (number? (get r {0}))) rows))))",
                kw(f)
            ),
            Step::Sort { field, desc } => format!(
                "(fn [rows] (sort-by {0} {1}(filter (fn [r] (some? (get r {0}))) rows)))",
                kw(field),
                if *desc {
                    "(fn [a b] (pos? (compare a b))) "
                } else {
                    ""
                },
            ),
        }
    }

    /// The capability's name (without `generated/`), from what the step means: the same step
    /// of another goal gets the same name.
    pub fn name(&self, dataset: &str) -> String {
        let n = match self {
            Step::Filter(Filter::Eq { field, .. }) => format!("{dataset}-{field}-equals"),
            Step::Filter(Filter::Has { field, .. }) => format!("{dataset}-{field}-include"),
            Step::Filter(Filter::Cmp { field, op, .. }) => {
                format!("{dataset}-{field}-{}", op.word())
            }
            Step::Filter(Filter::Is { field, truth }) => {
                format!("{dataset}-{}{field}", if *truth { "" } else { "not-" })
            }
            Step::Explode(f) => format!("{dataset}-each-{}", crate::words::singular(f)),
            Step::Compute(m) => format!("{dataset}-{}", metric_name(m)),
            Step::Group { field, metric, .. } => {
                format!(
                    "{dataset}-{}-by-{}",
                    metric_name(metric),
                    crate::words::singular(field)
                )
            }
            Step::RankKeys => "keys-ranked-by-value".into(),
            Step::TopRows(f) => format!("{dataset}-top-by-{f}"),
            Step::Sort { field, desc } => {
                format!(
                    "{dataset}-sorted-by-{field}{}",
                    if *desc { "-desc" } else { "" }
                )
            }
        };
        crate::catalog::capability_name(&n)
    }

    /// One sentence saying what the step computes (for the catalog's search, the LLM, a human).
    pub fn description(&self, dataset: &str) -> String {
        match self {
            Step::Filter(Filter::Eq { field, .. }) => {
                format!("the {dataset} records whose {field} equals the given value")
            }
            Step::Filter(Filter::Has { field, .. }) => {
                format!("the {dataset} records whose {field} list includes the given value")
            }
            Step::Filter(Filter::Cmp { field, op, .. }) => format!(
                "the {dataset} records whose {field} is {} the given number",
                match op {
                    Cmp::Gt => "greater than",
                    Cmp::Ge => "at least",
                    Cmp::Lt => "less than",
                    Cmp::Le => "at most",
                }
            ),
            Step::Filter(Filter::Is { field, truth }) => {
                format!("the {dataset} records whose {field} is {truth}")
            }
            Step::Explode(f) => format!(
                "one {dataset} record per element of its {f} list, with {f} holding that element"
            ),
            Step::Compute(m) => format!("{} of the {dataset} records", metric_words(m)),
            Step::Group { field, metric, .. } => format!(
                "a map from each {field} of the {dataset} records to {}",
                metric_words(metric)
            ),
            Step::RankKeys => {
                "the first n keys, ordered by the value the map gives each (largest first, ties in the keys' order)".into()
            }
            Step::TopRows(f) => {
                format!("the n {dataset} records with the largest {f}, largest first")
            }
            Step::Sort { field, desc } => format!(
                "the {dataset} records ordered by {field}{}",
                if *desc { ", largest first" } else { "" }
            ),
        }
    }
}

fn metric_name(m: &Metric) -> String {
    match m {
        Metric::Count => "count".into(),
        Metric::Sum(f) => format!("total-{f}"),
        Metric::Avg(f) => format!("average-{f}"),
        Metric::Min(f) => format!("lowest-{f}"),
        Metric::Max(f) => format!("highest-{f}"),
        Metric::List(f) => format!("{f}-list"),
        Metric::Distinct(f) => format!("distinct-{f}"),
        Metric::CountDistinct(f) => format!("count-distinct-{f}"),
        Metric::Rows => "records".into(),
    }
}

fn metric_words(m: &Metric) -> String {
    match m {
        Metric::Count => "the number".into(),
        Metric::Sum(f) => format!("the total of {f}"),
        Metric::Avg(f) => format!("the average of {f} (a float)"),
        Metric::Min(f) => format!("the lowest {f}"),
        Metric::Max(f) => format!("the highest {f}"),
        Metric::List(f) => format!("the {f} values, in order"),
        Metric::Distinct(f) => format!("the distinct {f} values, in order of first appearance"),
        Metric::CountDistinct(f) => format!("the number of distinct {f} values"),
        Metric::Rows => "the records".into(),
    }
}

impl Query {
    /// The steps that compute the query, each with the indices of the steps whose values it
    /// takes (`None`: the dataset itself).
    pub fn steps(&self) -> Vec<(Step, Vec<Option<usize>>)> {
        let mut steps: Vec<(Step, Vec<Option<usize>>)> = Vec::new();
        let mut rows: Option<usize> = None;
        let push =
            |steps: &mut Vec<(Step, Vec<Option<usize>>)>, s: Step, from: Vec<Option<usize>>| {
                steps.push((s, from));
                steps.len() - 1
            };
        for f in &self.filters {
            rows = Some(push(&mut steps, Step::Filter(f.clone()), vec![rows]));
        }
        if let Some((field, desc)) = &self.order {
            rows = Some(push(
                &mut steps,
                Step::Sort {
                    field: field.clone(),
                    desc: *desc,
                },
                vec![rows],
            ));
        }
        match (&self.group, self.top) {
            (Some(g), top) => {
                let mut metric = self.metric.clone();
                if top.is_some() && matches!(metric, Metric::Rows) {
                    metric = Metric::Count;
                }
                let list = self.group_is_list && !(metric == Metric::Count && top.is_none());
                if list {
                    rows = Some(push(&mut steps, Step::Explode(g.clone()), vec![rows]));
                }
                let grouped = push(
                    &mut steps,
                    Step::Group {
                        field: g.clone(),
                        list: self.group_is_list && !list,
                        metric,
                    },
                    vec![rows],
                );
                if top.is_some() {
                    let keys = push(
                        &mut steps,
                        Step::Compute(Metric::Distinct(g.clone())),
                        vec![rows],
                    );
                    push(&mut steps, Step::RankKeys, vec![Some(keys), Some(grouped)]);
                }
            }
            (None, Some(_)) => {
                let by = self
                    .rank_by
                    .clone()
                    .or_else(|| self.metric.field().map(str::to_string))
                    .unwrap_or_default();
                rows = Some(push(&mut steps, Step::TopRows(by), vec![rows]));
                if !matches!(self.metric, Metric::Rows) {
                    push(&mut steps, Step::Compute(self.metric.clone()), vec![rows]);
                }
            }
            (None, None) => {
                if !matches!(self.metric, Metric::Rows) || steps.is_empty() {
                    push(&mut steps, Step::Compute(self.metric.clone()), vec![rows]);
                }
            }
        }
        steps
    }
}
