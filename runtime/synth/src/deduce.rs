//! Targets and deduction: top-down steps that split a wanted output into sub-problems.
//!
//! A **target** is the value wanted in every environment of a scope. Bank terms that have
//! those values are its *hits*. A *deduction* says: the wanted value is `(map f C)` (or
//! `filter`, `remove`, `mapcat`, `update-vals`, `group-by`, `assoc`) for a small term `C`
//! already in the bank, and the examples of `f` follow from the output — one per item, in a
//! child scope whose environments are exactly those items (λ²'s deduction for combinators).
//! A solution of the child target, wrapped, is a solution of the target.

use std::rc::Rc;

use crate::bank::{Expr, Term, TermId};

use crate::value::V;

/// What a target wants in each environment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Want {
    /// Exactly these values.
    Exact(Rc<[V]>),
    /// Values of this truthiness (a predicate).
    Truthy(Rc<[bool]>),
}

impl Want {
    pub(crate) fn matches(&self, vals: &[V]) -> bool {
        match self {
            Want::Exact(w) => w.len() == vals.len() && w.iter().zip(vals).all(|(a, b)| a == b),
            Want::Truthy(w) => {
                w.len() == vals.len() && w.iter().zip(vals).all(|(a, b)| *a == b.truthy())
            }
        }
    }
}

/// A term, or a candidate that was not kept in the bank (its values equal an earlier term's).
#[derive(Clone, Debug)]
pub(crate) enum Hit {
    Term(TermId),
    New(Expr),
}

/// The combinator of a deduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    Map,
    Filter,
    Remove,
    Mapcat,
    UpdateVals,
    GroupBy,
    /// `(assoc C k v …)`: the children are the values, in the same scope.
    Assoc,
}

impl Rule {
    pub(crate) fn head(self) -> &'static str {
        match self {
            Rule::Map => "map",
            Rule::Filter => "filter",
            Rule::Remove => "remove",
            Rule::Mapcat => "mapcat",
            Rule::UpdateVals => "update-vals",
            Rule::GroupBy => "group-by",
            Rule::Assoc => "assoc",
        }
    }
}

/// A deduction of a target.
#[derive(Clone, Debug)]
pub(crate) struct Deduction {
    pub rule: Rule,
    /// The collection (or, for `assoc`, the map) term, in the target's scope.
    pub coll: TermId,
    /// Child targets: one lambda body, or one value per `assoc` key.
    pub children: Vec<usize>,
    /// The `assoc` keys.
    pub keys: Vec<V>,
    /// Cost outside the children: the combinator, the `fn` (or the keys) and the collection.
    pub overhead: usize,
    /// AST nodes outside the children.
    pub overhead_nodes: usize,
    /// Cost taken off for the evidence of the split (`SPLIT_BONUS`).
    pub bonus: usize,
}

/// One target.
pub(crate) struct Target {
    pub scope: usize,
    pub want: Want,
    /// Deduction depth (0 for the spec's own target).
    pub depth: u8,
    /// (cost, nodes, variables used, hit), in the order found.
    pub hits: Vec<(u8, u16, u64, Hit)>,
    pub deductions: Vec<Deduction>,
}

/// Hits kept per target.
pub(crate) const MAX_HITS: usize = 48;
/// Deductions per target.
pub(crate) const MAX_DEDUCTIONS: usize = 12;
/// Deductions nest at most this deep.
pub(crate) const MAX_DEPTH: u8 = 3;

impl Target {
    pub(crate) fn check(&mut self, vals: &[V], expr: &Expr, cost: u8, nodes: u16, uses: u64) {
        if self.hits.len() < MAX_HITS && self.want.matches(vals) {
            self.hits.push((cost, nodes, uses, Hit::New(expr.clone())));
        }
    }
}

/// The sub-problem a deduction asks for.
pub(crate) enum Child {
    /// A lambda body over these (outer environment, item) pairs, sorted, with what it should
    /// give for each.
    Lambda { pairs: Vec<(u32, V)>, want: Want },
    /// Values in the same scope, one per key.
    Same { keys: Vec<V>, wants: Vec<Want> },
}

/// A proposed deduction.
pub(crate) struct Proposal {
    pub rule: Rule,
    pub child: Child,
}

fn seqs(vals: &[V]) -> Option<Vec<&[V]>> {
    vals.iter()
        .map(|v| match v {
            V::Seq(xs) => Some(&xs[..]),
            _ => None,
        })
        .collect()
}

fn maps(vals: &[V]) -> Option<Vec<&[(V, V)]>> {
    vals.iter()
        .map(|v| match v {
            V::Map(m) => Some(&m[..]),
            _ => None,
        })
        .collect()
}

/// A lambda child's (environment, item) pairs, sorted, and what each should give.
type ChildExamples<W> = (Vec<(u32, V)>, Vec<W>);

/// Sorts (env, item, want) triples and merges equal pairs; None when one pair wants two
/// different things (no function does that).
fn lambda_child<W: PartialEq + Clone>(mut triples: Vec<(u32, V, W)>) -> Option<ChildExamples<W>> {
    triples.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut pairs: Vec<(u32, V)> = Vec::with_capacity(triples.len());
    let mut wants: Vec<W> = Vec::with_capacity(triples.len());
    for (e, x, w) in triples {
        if let Some(last) = pairs.last()
            && last.0 == e
            && last.1 == x
        {
            if *wants.last()? != w {
                return None;
            }
            continue;
        }
        pairs.push((e, x));
        wants.push(w);
    }
    (!pairs.is_empty()).then_some((pairs, wants))
}

/// The deductions that apply to target values `want` and collection term `t`.
pub(crate) fn propose(want: &[V], t: &Term) -> Vec<Proposal> {
    let mut out = Vec::new();
    let c = &t.vals[..];
    if c.iter().zip(want).all(|(a, b)| a == b) {
        return out;
    }
    if let (Some(ws), Some(cs)) = (seqs(want), seqs(c)) {
        map_rule(&ws, &cs, &mut out);
        filter_rule(&ws, &cs, &mut out);
        mapcat_rule(&ws, &cs, &mut out);
    }
    if let (Some(ws), Some(cs)) = (maps(want), maps(c)) {
        update_vals_rule(&ws, &cs, &mut out);
        assoc_rule(&ws, &cs, &mut out);
    }
    if let (Some(ws), Some(cs)) = (maps(want), seqs(c)) {
        group_by_rule(&ws, &cs, &mut out);
    }
    out
}

fn map_rule(ws: &[&[V]], cs: &[&[V]], out: &mut Vec<Proposal>) {
    if ws.iter().zip(cs).any(|(w, c)| w.len() != c.len()) || cs.iter().all(|c| c.is_empty()) {
        return;
    }
    let mut triples = Vec::new();
    for (e, (w, c)) in ws.iter().zip(cs).enumerate() {
        for (x, y) in c.iter().zip(w.iter()) {
            triples.push((e as u32, x.clone(), y.clone()));
        }
    }
    if let Some((pairs, wants)) = lambda_child(triples) {
        out.push(Proposal {
            rule: Rule::Map,
            child: Child::Lambda {
                pairs,
                want: Want::Exact(Rc::from(wants)),
            },
        });
    }
}

fn filter_rule(ws: &[&[V]], cs: &[&[V]], out: &mut Vec<Proposal>) {
    let mut dropped = false;
    let mut kept = false;
    let mut triples = Vec::new();
    for (e, (w, c)) in ws.iter().zip(cs).enumerate() {
        let keep: Vec<bool> = c.iter().map(|x| w.contains(x)).collect();
        let filtered: Vec<&V> = c
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(x, _)| x)
            .collect();
        if filtered.len() != w.len() || filtered.iter().zip(w.iter()).any(|(a, b)| *a != b) {
            return;
        }
        dropped |= keep.iter().any(|k| !k);
        kept |= keep.iter().any(|k| *k);
        for (x, k) in c.iter().zip(keep) {
            triples.push((e as u32, x.clone(), k));
        }
    }
    if !dropped || !kept {
        return;
    }
    if let Some((pairs, wants)) = lambda_child(triples) {
        let negated: Vec<bool> = wants.iter().map(|k| !k).collect();
        out.push(Proposal {
            rule: Rule::Filter,
            child: Child::Lambda {
                pairs: pairs.clone(),
                want: Want::Truthy(Rc::from(wants)),
            },
        });
        out.push(Proposal {
            rule: Rule::Remove,
            child: Child::Lambda {
                pairs,
                want: Want::Truthy(Rc::from(negated)),
            },
        });
    }
}

fn mapcat_rule(ws: &[&[V]], cs: &[&[V]], out: &mut Vec<Proposal>) {
    let mut ratio = None;
    for (w, c) in ws.iter().zip(cs) {
        if c.is_empty() {
            if !w.is_empty() {
                return;
            }
            continue;
        }
        if w.len() % c.len() != 0 {
            return;
        }
        let r = w.len() / c.len();
        if *ratio.get_or_insert(r) != r {
            return;
        }
    }
    let Some(r) = ratio.filter(|r| *r >= 2) else {
        return;
    };
    let mut triples = Vec::new();
    for (e, (w, c)) in ws.iter().zip(cs).enumerate() {
        for (i, x) in c.iter().enumerate() {
            triples.push((e as u32, x.clone(), V::seq(w[r * i..r * i + r].to_vec())));
        }
    }
    if let Some((pairs, wants)) = lambda_child(triples) {
        out.push(Proposal {
            rule: Rule::Mapcat,
            child: Child::Lambda {
                pairs,
                want: Want::Exact(Rc::from(wants)),
            },
        });
    }
}

fn update_vals_rule(ws: &[&[(V, V)]], cs: &[&[(V, V)]], out: &mut Vec<Proposal>) {
    let mut triples = Vec::new();
    for (e, (w, c)) in ws.iter().zip(cs).enumerate() {
        if w.len() != c.len() || w.iter().zip(c.iter()).any(|(a, b)| a.0 != b.0) {
            return;
        }
        for ((_, y), (_, x)) in w.iter().zip(c.iter()) {
            triples.push((e as u32, x.clone(), y.clone()));
        }
    }
    if let Some((pairs, wants)) = lambda_child(triples) {
        out.push(Proposal {
            rule: Rule::UpdateVals,
            child: Child::Lambda {
                pairs,
                want: Want::Exact(Rc::from(wants)),
            },
        });
    }
}

fn assoc_rule(ws: &[&[(V, V)]], cs: &[&[(V, V)]], out: &mut Vec<Proposal>) {
    let mut keys: Vec<V> = Vec::new();
    for (w, c) in ws.iter().zip(cs) {
        // Every key of the collection must stay (removing one needs `dissoc`).
        if c.iter().any(|(k, _)| V::map_get(w, k).is_none()) {
            return;
        }
        for (k, y) in w.iter() {
            let same = V::map_get(c, k).is_some_and(|i| c[i].1 == *y);
            if !same && !keys.contains(k) {
                if !matches!(k, V::Kw(_) | V::Str(_) | V::Int(_)) {
                    return;
                }
                keys.push(k.clone());
            }
        }
    }
    if keys.is_empty() || keys.len() > 2 {
        return;
    }
    keys.sort();
    let mut wants = Vec::new();
    for k in &keys {
        let mut per_env = Vec::with_capacity(ws.len());
        for w in ws {
            match V::map_get(w, k) {
                Some(i) => per_env.push(w[i].1.clone()),
                None => return,
            }
        }
        wants.push(Want::Exact(Rc::from(per_env)));
    }
    out.push(Proposal {
        rule: Rule::Assoc,
        child: Child::Same { keys, wants },
    });
}

fn group_by_rule(ws: &[&[(V, V)]], cs: &[&[V]], out: &mut Vec<Proposal>) {
    let mut triples = Vec::new();
    let mut any = false;
    for (e, (w, c)) in ws.iter().zip(cs).enumerate() {
        let mut key_of: Vec<(V, V)> = Vec::new();
        for (k, group) in w.iter() {
            let V::Seq(items) = group else { return };
            if items.is_empty() {
                return;
            }
            for x in items.iter() {
                match key_of.iter().find(|(y, _)| y == x) {
                    Some((_, k2)) if k2 != k => return,
                    Some(_) => {}
                    None => key_of.push((x.clone(), k.clone())),
                }
            }
        }
        // Regroup and compare.
        let mut regrouped: Vec<(V, Vec<V>)> = Vec::new();
        for x in c.iter() {
            let Some((_, k)) = key_of.iter().find(|(y, _)| y == x) else {
                return;
            };
            match regrouped.iter_mut().find(|(g, _)| g == k) {
                Some((_, items)) => items.push(x.clone()),
                None => regrouped.push((k.clone(), vec![x.clone()])),
            }
        }
        let regrouped = V::map_from(regrouped.into_iter().map(|(k, g)| (k, V::seq(g))).collect());
        let V::Map(rm) = &regrouped else { return };
        if rm.len() != w.len() || rm.iter().zip(w.iter()).any(|(a, b)| a != b) {
            return;
        }
        for x in c.iter() {
            any = true;
            let k = key_of.iter().find(|(y, _)| y == x).map(|(_, k)| k.clone());
            triples.push((e as u32, x.clone(), k.unwrap_or(V::Nil)));
        }
    }
    if !any {
        return;
    }
    if let Some((pairs, wants)) = lambda_child(triples) {
        out.push(Proposal {
            rule: Rule::GroupBy,
            child: Child::Lambda {
                pairs,
                want: Want::Exact(Rc::from(wants)),
            },
        });
    }
}

/// A solution: source and AST nodes.
#[derive(Clone, Debug)]
pub(crate) struct Sol {
    pub src: String,
    pub nodes: usize,
    /// The variables of the target's scope it mentions (bit set over slots).
    pub uses: u64,
}

/// Wraps child solutions in a deduction's combinator.
pub(crate) fn wrap(rule: Rule, coll: &str, var: &str, keys: &[V], parts: &[String]) -> String {
    match rule {
        Rule::Assoc => {
            let mut s = format!("(assoc {coll}");
            for (k, v) in keys.iter().zip(parts) {
                s.push(' ');
                s.push_str(&crate::value::print(k));
                s.push(' ');
                s.push_str(v);
            }
            s.push(')');
            s
        }
        Rule::UpdateVals => format!("(update-vals {coll} (fn [{var}] {}))", parts[0]),
        _ => format!("({} (fn [{var}] {}) {coll})", rule.head(), parts[0]),
    }
}
