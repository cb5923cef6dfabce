//! Reading a plain-English goal about datasets into a [`Query`]. The vocabulary comes from the
//! data: the goal's nouns name datasets (`orders` → the dataset `orders`, singular or plural),
//! its words name fields (matched to the records' keys, with plurals and common
//! abbreviations) and values (`paid` is a value of `status`); the rest is a small closed set of
//! words for counting, sums, averages, extremes, grouping, comparisons, ranking, order and
//! distinct values. A word that is none of these is an error that names it: the reader never
//! guesses past a word it does not know.

use rtfs::Value;

use crate::dataset::{Dataset, FieldKind};
use crate::error::PlanError;
use crate::query::{Cmp, Filter, Metric, Query};
use crate::words::{number, same, singular, tokens};

/// What a word (or a run of words) of the goal is.
#[derive(Clone, Debug, PartialEq)]
enum Mention {
    Dataset(usize),
    Field(String),
    Value { field: String, value: Value },
    Num(f64),
    Agg(Agg),
    Group,
    Compare(Cmp),
    Top,
    Distinct,
    Sort,
    Desc,
    Asc,
    Not,
    Filler,
    Unknown(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agg {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

/// Phrases of the closed vocabulary, longest first where they overlap.
const PHRASES: &[(&str, Mention)] = &[
    ("how many", Mention::Agg(Agg::Count)),
    ("number of", Mention::Agg(Agg::Count)),
    ("count of", Mention::Agg(Agg::Count)),
    ("sum of", Mention::Agg(Agg::Sum)),
    ("more than", Mention::Compare(Cmp::Gt)),
    ("greater than", Mention::Compare(Cmp::Gt)),
    ("larger than", Mention::Compare(Cmp::Gt)),
    ("bigger than", Mention::Compare(Cmp::Gt)),
    ("higher than", Mention::Compare(Cmp::Gt)),
    ("longer than", Mention::Compare(Cmp::Gt)),
    ("later than", Mention::Compare(Cmp::Gt)),
    ("newer than", Mention::Compare(Cmp::Gt)),
    ("older than", Mention::Compare(Cmp::Gt)),
    ("less than", Mention::Compare(Cmp::Lt)),
    ("fewer than", Mention::Compare(Cmp::Lt)),
    ("lower than", Mention::Compare(Cmp::Lt)),
    ("smaller than", Mention::Compare(Cmp::Lt)),
    ("shorter than", Mention::Compare(Cmp::Lt)),
    ("earlier than", Mention::Compare(Cmp::Lt)),
    ("cheaper than", Mention::Compare(Cmp::Lt)),
    ("at least", Mention::Compare(Cmp::Ge)),
    ("no less than", Mention::Compare(Cmp::Ge)),
    ("or more", Mention::Compare(Cmp::Ge)),
    ("at most", Mention::Compare(Cmp::Le)),
    ("no more than", Mention::Compare(Cmp::Le)),
    ("or less", Mention::Compare(Cmp::Le)),
    ("or fewer", Mention::Compare(Cmp::Le)),
    ("up to", Mention::Compare(Cmp::Le)),
    ("for each", Mention::Group),
    ("for every", Mention::Group),
    ("in each", Mention::Group),
    ("grouped by", Mention::Group),
    ("group by", Mention::Group),
    ("broken down by", Mention::Group),
    ("sorted by", Mention::Sort),
    ("ordered by", Mention::Sort),
    ("sort by", Mention::Sort),
    ("order by", Mention::Sort),
    ("highest first", Mention::Desc),
    ("largest first", Mention::Desc),
    ("biggest first", Mention::Desc),
    ("most first", Mention::Desc),
    ("lowest first", Mention::Asc),
    ("smallest first", Mention::Asc),
];

/// Single words of the closed vocabulary.
fn word(w: &str) -> Option<Mention> {
    Some(match w {
        "count" | "counts" | "counted" | "tally" => Mention::Agg(Agg::Count),
        "total" | "totals" | "sum" | "sums" | "summed" | "combined" => Mention::Agg(Agg::Sum),
        "average" | "averages" | "mean" | "avg" => Mention::Agg(Agg::Avg),
        "maximum" | "max" | "highest" | "largest" | "biggest" | "greatest" | "longest" | "most"
        | "latest" | "newest" | "oldest" | "priciest" | "heaviest" => Mention::Agg(Agg::Max),
        "minimum" | "min" | "lowest" | "smallest" | "least" | "shortest" | "fewest"
        | "earliest" | "cheapest" | "lightest" => Mention::Agg(Agg::Min),
        "by" | "per" | "across" => Mention::Group,
        "over" | "above" | "exceeding" | "after" | "beyond" => Mention::Compare(Cmp::Gt),
        "under" | "below" | "before" => Mention::Compare(Cmp::Lt),
        "top" | "first" => Mention::Top,
        "distinct" | "unique" | "different" => Mention::Distinct,
        "sorted" | "ordered" | "sort" | "order" | "rank" | "ranked" => Mention::Sort,
        "descending" | "desc" | "decreasing" => Mention::Desc,
        "ascending" | "asc" | "increasing" => Mention::Asc,
        "not" | "non" | "no" | "without" | "un" => Mention::Not,
        _ if FILLER.contains(&w) => Mention::Filler,
        _ => return None,
    })
}

/// Words that carry no meaning of their own here.
const FILLER: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "for",
    "and",
    "with",
    "that",
    "which",
    "who",
    "whose",
    "are",
    "is",
    "was",
    "were",
    "be",
    "been",
    "has",
    "have",
    "had",
    "do",
    "does",
    "did",
    "there",
    "what",
    "show",
    "me",
    "give",
    "list",
    "get",
    "find",
    "tell",
    "compute",
    "calculate",
    "return",
    "all",
    "each",
    "every",
    "their",
    "its",
    "it",
    "them",
    "they",
    "from",
    "as",
    "value",
    "values",
    "please",
    "items",
    "entries",
    "records",
    "rows",
    "group",
    "grouped",
    "into",
    "than",
    "many",
    "much",
    "amount",
    "overall",
    "and",
    "or",
    "published",
    "released",
    "created",
    "made",
    "born",
    "written",
    "opened",
    "closed",
    "filed",
    "placed",
    "started",
    "ended",
    "taken",
    "done",
    "labelled",
    "labeled",
    "tagged",
    "marked",
    "having",
    "where",
    "whether",
    "currently",
    "days",
    "day",
    "long",
    "lasting",
    "only",
    "just",
    "currently",
    "so",
    "far",
    "ever",
    "by",
];

/// A run of goal words that names something, and how many words it takes.
type Match = (Mention, usize);

fn phrase_at(words: &[String], i: usize) -> Option<Match> {
    PHRASES.iter().find_map(|(p, m)| {
        let parts: Vec<&str> = p.split(' ').collect();
        let fits = parts
            .iter()
            .enumerate()
            .all(|(k, part)| words.get(i + k).is_some_and(|w| w == part));
        fits.then(|| (m.clone(), parts.len()))
    })
}

/// Whether the goal words from `i` spell `name`'s words (each compared with plurals and
/// abbreviations); returns how many words.
fn spells(words: &[String], i: usize, name: &[String]) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let fits = name
        .iter()
        .enumerate()
        .all(|(k, part)| words.get(i + k).is_some_and(|w| same(w, part)));
    fits.then_some(name.len())
}

/// Whether the goal words from `i` spell a value exactly (values are data: compared as
/// words, a single word also by its plural).
fn spells_value(words: &[String], i: usize, value: &[String]) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    if value.len() == 1 {
        return words
            .get(i)
            .filter(|w| **w == value[0] || (singular(w) == value[0] && w.len() > value[0].len()))
            .map(|_| 1);
    }
    let fits = value
        .iter()
        .enumerate()
        .all(|(k, part)| words.get(i + k).is_some_and(|w| w == part));
    fits.then_some(value.len())
}

fn dataset_at(words: &[String], i: usize, datasets: &[Dataset]) -> Option<Match> {
    datasets.iter().enumerate().find_map(|(n, d)| {
        spells(words, i, &crate::words::name_words(&d.name)).map(|len| (Mention::Dataset(n), len))
    })
}

fn field_at(words: &[String], i: usize, d: &Dataset) -> Option<Match> {
    // The longest field name that fits.
    d.fields
        .iter()
        .filter_map(|f| {
            spells(words, i, &crate::words::name_words(&f.name))
                .map(|len| (Mention::Field(f.name.clone()), len))
        })
        .max_by_key(|(_, len)| *len)
}

/// Words that are never read as data values, whatever the data holds.
const NEVER_VALUES: &[&str] = &[
    "the", "a", "an", "of", "in", "on", "at", "to", "for", "and", "or", "by", "per", "with", "is",
    "are", "was", "were", "each", "every", "how", "many", "what", "which",
];

fn value_at(words: &[String], i: usize, d: &Dataset) -> Option<Match> {
    if words
        .get(i)
        .is_some_and(|w| NEVER_VALUES.contains(&w.as_str()))
    {
        return None;
    }
    let mut best: Option<Match> = None;
    for f in &d.fields {
        if !matches!(f.kind, FieldKind::Text | FieldKind::TextList) {
            continue;
        }
        for v in &f.values {
            let vw = tokens(v);
            if let Some(len) = spells_value(words, i, &vw)
                && best.as_ref().is_none_or(|(_, l)| len > *l)
            {
                best = Some((
                    Mention::Value {
                        field: f.name.clone(),
                        value: Value::str(v),
                    },
                    len,
                ));
            }
        }
    }
    best
}

/// The goal's words as mentions, against one dataset (and the dataset names).
fn mentions(words: &[String], datasets: &[Dataset], d: &Dataset) -> Vec<Mention> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        // "un" + a boolean field: "unavailable".
        if let Some(rest) = w.strip_prefix("un")
            && d.fields
                .iter()
                .any(|f| f.kind == FieldKind::Bool && same(rest, &f.name))
        {
            out.push(Mention::Not);
            out.push(Mention::Field(
                d.fields
                    .iter()
                    .find(|f| f.kind == FieldKind::Bool && same(rest, &f.name))
                    .map(|f| f.name.clone())
                    .unwrap_or_default(),
            ));
            i += 1;
            continue;
        }
        let candidates = [
            phrase_at(words, i),
            value_at(words, i, d),
            field_at(words, i, d),
            dataset_at(words, i, datasets),
        ];
        // The longest run wins; on a tie the order above (phrases, values, fields, datasets).
        let best = candidates
            .into_iter()
            .flatten()
            .fold(None::<Match>, |acc, m| match &acc {
                Some((_, l)) if *l >= m.1 => acc,
                _ => Some(m),
            });
        if let Some((m, len)) = best {
            // A single word that is both a field and a closed-vocabulary word ("count", "total"
            // as a field) is the field only where nothing else reads it.
            let closed = word(w);
            let m = match (&m, &closed, len) {
                (Mention::Field(_), Some(c @ (Mention::Agg(_) | Mention::Group)), 1) => {
                    if i + 1 < words.len() { c.clone() } else { m }
                }
                _ => m,
            };
            out.push(m);
            i += len;
            continue;
        }
        if let Some(n) = number(w) {
            out.push(Mention::Num(n));
        } else if let Some(m) = word(w) {
            out.push(m);
        } else {
            out.push(Mention::Unknown(w.clone()));
        }
        i += 1;
    }
    out
}

/// Reads `goal` against `datasets` (by name). The dataset is the one the goal's noun names, or
/// the only one handed over.
pub fn read(goal: &str, datasets: &[Dataset]) -> Result<Query, PlanError> {
    let words = tokens(goal);
    if words.is_empty() {
        return Err(PlanError::Goal("the goal is empty".into()));
    }
    if datasets.is_empty() {
        return Err(PlanError::Goal(
            "no datasets were handed over (give the run --data DIR with JSON files)".into(),
        ));
    }
    let named = (0..words.len()).find_map(|i| dataset_at(&words, i, datasets));
    // Named by a noun; else the only one; else the one whose fields and values the goal's
    // words name most (and no fewer unknown words).
    let fit = |d: &Dataset| {
        let ms = mentions(&words, datasets, d);
        let known = ms
            .iter()
            .filter(|m| matches!(m, Mention::Field(_) | Mention::Value { .. }))
            .count();
        let unknown = ms
            .iter()
            .filter(|m| matches!(m, Mention::Unknown(_)))
            .count();
        (known, std::cmp::Reverse(unknown))
    };
    let best = || {
        let scored: Vec<_> = datasets.iter().map(|d| (fit(d), d)).collect();
        let top = scored.iter().map(|(s, _)| *s).max()?;
        let mut winners = scored.iter().filter(|(s, _)| *s == top);
        let (score, d) = winners.next()?;
        (score.0 > 0 && winners.next().is_none()).then_some(*d)
    };
    let d = match named {
        Some((Mention::Dataset(n), _)) => &datasets[n],
        _ if datasets.len() == 1 => &datasets[0],
        _ if best().is_some() => best().unwrap_or(&datasets[0]),
        _ => {
            // Words no dataset explains.
            let unknown: Vec<String> = words
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    datasets.iter().all(|d| {
                        let ms = mentions(&words[*i..*i + 1], datasets, d);
                        matches!(ms.first(), Some(Mention::Unknown(_)))
                    })
                })
                .map(|(_, w)| format!("{w:?}"))
                .collect();
            return Err(PlanError::Goal(format!(
                "the goal names none of the datasets ({}): say which one it is about{}",
                datasets
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if unknown.is_empty() {
                    String::new()
                } else {
                    format!("; words the planner does not know: {}", unknown.join(", "))
                }
            )));
        }
    };
    let ms = mentions(&words, datasets, d);
    let unknown: Vec<&str> = ms
        .iter()
        .filter_map(|m| match m {
            Mention::Unknown(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    if !unknown.is_empty() {
        return Err(PlanError::Unknown {
            words: unknown.iter().map(|w| w.to_string()).collect(),
            dataset: d.name.clone(),
            fields: d.fields.iter().map(|f| f.name.clone()).collect(),
        });
    }
    interpret(&ms, d)
}

fn numeric(d: &Dataset, f: &str) -> bool {
    d.field(f)
        .is_some_and(|f| matches!(f.kind, FieldKind::Int | FieldKind::Number))
}

/// The numeric field a bare comparison with `n` concerns: one named by the word after the
/// number ("15 days"), else the field that best fits the number — a year for a four-digit
/// number after "before"/"after", else an amount whose range holds it.
fn field_for_number(d: &Dataset, n: f64, year_like: bool) -> Option<String> {
    let candidates: Vec<&crate::dataset::Field> = d
        .fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Int | FieldKind::Number))
        .filter(|f| !matches!(f.name.as_str(), "id") && !f.name.ends_with("_id"))
        .collect();
    let holds = |f: &&crate::dataset::Field| f.range.is_some_and(|(lo, hi)| lo <= n && n <= hi);
    let named = |f: &&crate::dataset::Field, names: &[&str]| {
        names.iter().any(|k| f.name.to_lowercase().contains(k))
    };
    if year_like
        && let Some(f) = candidates
            .iter()
            .find(|f| named(f, &["year", "date", "published", "founded", "born"]))
    {
        return Some(f.name.clone());
    }
    if let Some(f) = candidates
        .iter()
        .find(|f| holds(f) && named(f, &["total", "amount", "price", "cost", "value", "score"]))
    {
        return Some(f.name.clone());
    }
    let holding: Vec<_> = candidates.iter().filter(|f| holds(f)).collect();
    if holding.len() == 1 {
        return Some(holding[0].name.clone());
    }
    None
}

fn agg_metric(a: Agg, field: Option<String>) -> Result<Metric, PlanError> {
    let need = |f: Option<String>, what: &str| {
        f.ok_or_else(|| {
            PlanError::Goal(format!(
                "the goal asks for {what} but names no field to take it of"
            ))
        })
    };
    Ok(match a {
        Agg::Count => Metric::Count,
        Agg::Sum => Metric::Sum(need(field, "a total")?),
        Agg::Avg => Metric::Avg(need(field, "an average")?),
        Agg::Min => Metric::Min(need(field, "a lowest value")?),
        Agg::Max => Metric::Max(need(field, "a highest value")?),
    })
}

fn interpret(ms: &[Mention], d: &Dataset) -> Result<Query, PlanError> {
    let mut q = Query {
        dataset: d.name.clone(),
        filters: Vec::new(),
        group: None,
        group_is_list: false,
        metric: Metric::Rows,
        top: None,
        rank_by: None,
        order: None,
    };
    let n = ms.len();
    let mut used = vec![false; n];
    let next =
        |from: usize, used: &[bool]| (from..n).find(|&j| !used[j] && ms[j] != Mention::Filler);
    let mut agg: Option<(Agg, usize)> = None;
    let mut agg_field: Option<String> = None;
    let mut distinct = false;
    let mut negate_next = false;
    // Pass 1: the phrases that take their neighbours.
    for i in 0..n {
        if used[i] {
            continue;
        }
        match &ms[i] {
            Mention::Top => {
                if let Some(j) = next(i + 1, &used)
                    && let Mention::Num(x) = ms[j]
                {
                    used[i] = true;
                    used[j] = true;
                    q.top = Some(x.max(0.0) as i64);
                    // "top 3 cities": the field after the number is what is ranked.
                    if let Some(k) = next(j + 1, &used)
                        && let Mention::Field(f) = &ms[k]
                    {
                        used[k] = true;
                        set_group(&mut q, d, f)?;
                    }
                } else if ms.get(i).is_some() {
                    // "first" without a number is filler ("sorted by year, first …").
                    used[i] = true;
                }
            }
            Mention::Sort => {
                used[i] = true;
                if let Some(j) = next(i + 1, &used)
                    && let Mention::Field(f) = &ms[j]
                {
                    used[j] = true;
                    let desc = next(j + 1, &used).is_some_and(|k| {
                        let d = ms[k] == Mention::Desc;
                        if d || ms[k] == Mention::Asc {
                            used[k] = true;
                        }
                        d
                    });
                    q.order = Some((f.clone(), desc));
                }
            }
            Mention::Compare(op) => {
                let Some(j) = next(i + 1, &used) else {
                    continue;
                };
                let Mention::Num(x) = ms[j] else { continue };
                used[i] = true;
                used[j] = true;
                // The field: named right after the number ("15 days"), or just before the
                // comparison ("cost over 2000"), else the one that fits the number.
                let after = next(j + 1, &used)
                    .filter(|&k| matches!(&ms[k], Mention::Field(f) if numeric(d, f)));
                let before = (0..i)
                    .rev()
                    .find(|&k| !used[k] && ms[k] != Mention::Filler)
                    .filter(|&k| matches!(&ms[k], Mention::Field(f) if numeric(d, f)));
                let field = match (after, before) {
                    (Some(k), _) | (None, Some(k)) => {
                        used[k] = true;
                        match &ms[k] {
                            Mention::Field(f) => f.clone(),
                            _ => unreachable!("matched a field"),
                        }
                    }
                    (None, None) => {
                        let year_like = x.fract() == 0.0 && (1000.0..=2999.0).contains(&x);
                        field_for_number(d, x, year_like).ok_or_else(|| {
                            PlanError::Goal(format!(
                                "the goal compares with {x} but names no numeric field to compare (fields: {})",
                                d.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                            ))
                        })?
                    }
                };
                let nval = if x.fract() == 0.0 && x.abs() < 1e15 {
                    Value::Int(x as i64)
                } else {
                    Value::Float(x)
                };
                q.filters.push(Filter::Cmp {
                    field,
                    op: *op,
                    n: nval,
                });
            }
            _ => {}
        }
    }
    // Pass 2: grouping, aggregates, values, fields.
    for i in 0..n {
        if used[i] {
            continue;
        }
        match &ms[i] {
            Mention::Group => {
                used[i] = true;
                let Some(j) = next(i + 1, &used) else {
                    continue;
                };
                match &ms[j] {
                    Mention::Field(f) => {
                        used[j] = true;
                        if q.top.is_some() && q.group.is_none() && numeric(d, f) {
                            // "top 5 books by pages": the records, ranked by the field.
                            q.rank_by = Some(f.clone());
                        } else if q.top.is_some() && q.group.is_some() {
                            // "top 3 cities by cost": ranked by the field's total.
                            agg_field = Some(f.clone());
                            agg.get_or_insert((Agg::Sum, j));
                        } else {
                            set_group(&mut q, d, f)?;
                        }
                    }
                    Mention::Agg(a) if q.top.is_some() => {
                        // "top 3 cities by total cost": the ranking metric.
                        used[j] = true;
                        agg = Some((*a, j));
                        if let Some(k) = next(j + 1, &used)
                            && let Mention::Field(f) = &ms[k]
                        {
                            used[k] = true;
                            agg_field = Some(f.clone());
                        }
                    }
                    Mention::Value { field, value } => {
                        // "trips by train": a value, so a filter.
                        used[j] = true;
                        push_value(&mut q, d, field, value);
                    }
                    _ => {}
                }
            }
            Mention::Agg(a) => {
                used[i] = true;
                if agg.is_none() {
                    agg = Some((*a, i));
                }
                if let Some(j) = next(i + 1, &used)
                    && let Mention::Field(f) = &ms[j]
                    && (*a != Agg::Count || !numeric(d, f) || agg_field.is_none())
                    && *a != Agg::Count
                {
                    used[j] = true;
                    agg_field = Some(f.clone());
                }
            }
            Mention::Distinct => {
                used[i] = true;
                distinct = true;
            }
            Mention::Not => {
                used[i] = true;
                negate_next = true;
                continue;
            }
            Mention::Value { field, value } => {
                used[i] = true;
                if negate_next {
                    return Err(PlanError::Goal(format!(
                        "the goal excludes the value {} of {field}; kiln reads only values to keep",
                        rtfs::print::print(value)
                    )));
                }
                push_value(&mut q, d, field, value);
            }
            Mention::Dataset(_) | Mention::Filler | Mention::Desc | Mention::Asc => {
                used[i] = true;
            }
            _ => {}
        }
        if !matches!(ms[i], Mention::Filler) {
            negate_next = false;
        }
    }
    // Pass 3: fields not yet read — boolean ones filter, the first numeric one an aggregate
    // takes, the first other one is what is listed.
    let mut listed: Option<String> = None;
    for i in 0..n {
        if used[i] {
            continue;
        }
        let Mention::Field(f) = &ms[i] else { continue };
        used[i] = true;
        let field = d.field(f).map(|x| x.kind.clone());
        let negated = i > 0 && ms[i - 1] == Mention::Not;
        if field == Some(FieldKind::Bool)
            && !(agg_field.is_none() && agg.is_some_and(|(a, _)| a != Agg::Count))
        {
            q.filters.push(Filter::Is {
                field: f.clone(),
                truth: !negated,
            });
            continue;
        }
        if agg.is_some_and(|(a, _)| a != Agg::Count) && agg_field.is_none() && numeric(d, f) {
            agg_field = Some(f.clone());
            continue;
        }
        if listed.is_none() {
            listed = Some(f.clone());
            continue;
        }
        return Err(PlanError::Goal(format!(
            "the goal names the field {f} where the reader expected nothing more (it already lists {})",
            listed.as_deref().unwrap_or("")
        )));
    }
    q.metric = match (agg, listed, distinct) {
        (Some((a, _)), _, _) if q.top.is_some() && q.group.is_none() && q.rank_by.is_none() => {
            // "top 3 books by …" read as ranking the records by the aggregate's field.
            q.rank_by = agg_field.clone();
            let _ = a;
            Metric::Rows
        }
        (Some((Agg::Count, _)), Some(l), true) if q.group.is_none() => Metric::CountDistinct(l),
        (Some((a, _)), _, _) => agg_metric(a, agg_field.clone())?,
        (None, Some(l), true) => Metric::Distinct(l),
        (None, Some(l), false) => Metric::List(l),
        (None, None, true) => {
            return Err(PlanError::Goal(
                "the goal asks for distinct values but names no field".into(),
            ));
        }
        (None, None, false) => Metric::Rows,
    };
    if q.top.is_some() && q.group.is_none() && q.rank_by.is_none() {
        q.rank_by = q
            .metric
            .field()
            .filter(|f| numeric(d, f))
            .map(str::to_string);
        if q.rank_by.is_none() {
            return Err(PlanError::Goal(
                "the goal asks for a top N but names no number to rank by".into(),
            ));
        }
    }
    if matches!(q.metric, Metric::Rows) && q.group.is_some() {
        q.metric = Metric::Count;
    }
    Ok(q)
}

fn set_group(q: &mut Query, d: &Dataset, f: &str) -> Result<(), PlanError> {
    if q.group.is_some() {
        return Err(PlanError::Goal(format!(
            "the goal groups by more than one field ({} and {f}); kiln reads one grouping",
            q.group.as_deref().unwrap_or("")
        )));
    }
    q.group_is_list = d.field(f).is_some_and(|x| x.kind == FieldKind::TextList);
    q.group = Some(f.to_string());
    Ok(())
}

fn push_value(q: &mut Query, d: &Dataset, field: &str, value: &Value) {
    let list = d
        .field(field)
        .is_some_and(|f| f.kind == FieldKind::TextList);
    q.filters.push(if list {
        Filter::Has {
            field: field.to_string(),
            value: value.as_str().unwrap_or_default().to_string(),
        }
    } else {
        Filter::Eq {
            field: field.to_string(),
            value: value.clone(),
        }
    });
}
