//! The search engine: the scopes and their banks, the targets, and the schedule that grows
//! them one size at a time so that solutions come out smallest first.
//!
//! Round `n` asks the spec's target for its solutions of size `n`: bank hits of that size, and
//! for each deduction, the solutions of its children of size `n` minus the deduction's own
//! nodes. Asking grows the scopes involved to the sizes needed. Each level of a scope may use a
//! quarter of the nodes still left; a level that needs more stops there and freezes its scope
//! (its terms so far stay usable), so that one exploding bank cannot starve the deductions.

use std::rc::Rc;

use crate::bank::{
    self, DEDUCE_MAX, Expr, Grown, Growth, MAX_LAMBDA_DEPTH, Scope, ScopeId, TermId, probes,
    render, render_expr,
};
use crate::budget::Budget;
use crate::constants::constants;
use crate::deduce::{
    Child, Deduction, Hit, MAX_DEDUCTIONS, MAX_DEPTH, Rule, Sol, Target, Want, propose, wrap,
};
use crate::ops::Op;
use crate::spec::Spec;
use crate::value::{FxMap, Key, Kind, V};

/// The largest program size searched.
pub(crate) const MAX_SIZE: usize = 24;
/// Solutions kept per target and size.
const MAX_SOLUTIONS: usize = 24;

pub(crate) struct Engine {
    pub scopes: Vec<Scope>,
    pub targets: Vec<Target>,
    pub nodes: u64,
    pub budget: Budget,
    pub exhausted: bool,
    /// The spec's target.
    pub top: usize,
    consts: Vec<V>,
    /// Operations the examples cannot show (they act as the identity on every input).
    unidentifiable: Vec<Op>,
    deduced: FxMap<(ScopeId, Vec<(u32, V)>), ScopeId>,
    target_index: FxMap<(ScopeId, Want), usize>,
    cache: FxMap<(usize, usize, Part), Rc<Vec<Sol>>>,
}

/// Which solutions of a target: through its deductions, or its own bank's hits. At one cost,
/// deductions come first — an output explained item by item over an input collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Deduced,
    Hits,
}

/// One level of one scope may use at most this fraction of the budget (and a quarter of
/// what is left).
const LEVEL_SHARE: u64 = 4;

/// The cost taken off a solution that splits the spec's output item by item over a parameter
/// (`filter`, `remove`, `mapcat`, `group-by`): that the output is, in every example, exactly
/// such a split — a subsequence kept by a consistent predicate, equal runs per item — is
/// evidence for the split that an arbitrary program of the same size would fit only by
/// coincidence.
pub(crate) const SPLIT_BONUS: usize = 3;

/// The extra cost of a step the examples give no evidence for.
pub(crate) const PENALTY: u8 = 2;

impl Engine {
    /// An engine for a checked spec.
    pub(crate) fn new(spec: &Spec, budget: Budget) -> Engine {
        let consts = constants(spec);
        let names: Vec<Rc<str>> = spec
            .params
            .iter()
            .map(|(n, _)| Rc::from(n.as_str()))
            .collect();
        let envs: Vec<Rc<[V]>> = spec
            .examples
            .iter()
            .map(|e| {
                e.args
                    .iter()
                    .map(|a| V::from_rtfs(a).unwrap_or(V::Err))
                    .collect::<Vec<V>>()
                    .into()
            })
            .collect();
        let outs: Vec<V> = spec
            .examples
            .iter()
            .map(|e| V::from_rtfs(&e.out).unwrap_or(V::Err))
            .collect();
        let unidentifiable = unidentifiable(&envs);
        let top_scope = Scope::new(0, names, envs, None, true, &consts);
        let mut eng = Engine {
            scopes: vec![top_scope],
            targets: Vec::new(),
            nodes: 0,
            budget,
            exhausted: false,
            top: 0,
            consts,
            unidentifiable,
            deduced: FxMap::default(),
            target_index: FxMap::default(),
            cache: FxMap::default(),
        };
        eng.top = eng.add_target(0, Want::Exact(Rc::from(outs)), 0);
        eng
    }

    /// Grows scope `sid` until it has `level` (or is frozen, or the budget is spent).
    fn ensure(&mut self, sid: ScopeId, level: usize) {
        while self.scopes[sid].level < level && !self.scopes[sid].frozen && !self.exhausted {
            let next = self.scopes[sid].level + 1;
            if next > MAX_SIZE {
                self.scopes[sid].frozen = true;
                break;
            }
            if next >= 4 {
                self.prepare_lambdas(sid, next);
            }
            let remaining = self.budget.nodes.saturating_sub(self.nodes);
            let allowance = (remaining / 4).min(self.budget.nodes / LEVEL_SHARE).max(1);
            let mut s = std::mem::take(&mut self.scopes[sid]);
            let result = {
                let targets = &mut self.targets;
                let mut check =
                    |sc: &Scope, vals: &[V], expr: &Expr, cost: u8, nodes: u16, uses: u64| {
                        for &t in &sc.targets {
                            targets[t].check(vals, expr, cost, nodes, uses);
                        }
                    };
                let mut g = Growth {
                    scopes: &self.scopes,
                    steps: self.budget.steps,
                    nodes: &mut self.nodes,
                    node_budget: self.budget.nodes,
                    level_allowance: allowance,
                    unidentifiable: &self.unidentifiable,
                    penalty: PENALTY,
                    check: &mut check,
                };
                bank::grow(&mut s, next, &mut g)
            };
            self.scopes[sid] = s;
            match result {
                Grown::Done => {}
                Grown::Capped => self.scopes[sid].frozen = true,
                Grown::Exhausted => {
                    self.scopes[sid].frozen = true;
                    self.exhausted = true;
                }
            }
            self.deduce_fresh(sid);
        }
    }

    /// Makes the lambda scopes that level `next` of `sid` takes bodies from, and grows them to
    /// the body sizes needed (`next` − 3: the combinator, `fn` and a collection of size 1).
    fn prepare_lambdas(&mut self, sid: ScopeId, next: usize) {
        if self.scopes[sid].depth >= MAX_LAMBDA_DEPTH {
            return;
        }
        let need = next - 3;
        // Lambdas take the items of the variables and of one step from them (`(:tags x)`,
        // `(vals m)`); items of anything larger go through a lambda of the same kind, if
        // there is one, evaluated on them directly.
        let source = need.min(2);
        let mut kinds: Vec<Kind> = Vec::new();
        for t in &self.scopes[sid].terms {
            if t.size as usize > source || t.uses == 0 || t.dead {
                continue;
            }
            let wanted: &[usize] = match t.kind {
                Kind::Seq => &[0],
                Kind::Map => &[0, 1, 2],
                _ => &[],
            };
            for &p in wanted {
                let k = t.items[p];
                if k != Kind::Unknown && !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
        }
        for k in kinds {
            if self.scopes[sid].lambda_for(k).is_none() {
                self.make_lambda_scope(sid, k, source);
            }
        }
        let children: Vec<ScopeId> = self.scopes[sid].lambdas.iter().map(|(_, c)| *c).collect();
        for c in children {
            self.ensure(c, need);
        }
    }

    fn make_lambda_scope(&mut self, sid: ScopeId, kind: Kind, need: usize) {
        let s = &self.scopes[sid];
        let pr = probes(s, kind, need);
        if pr.is_empty() {
            return;
        }
        let mut names = s.names.clone();
        names.push(fresh_name(&s.names));
        let envs: Vec<Rc<[V]>> = pr
            .iter()
            .map(|(e, x)| {
                let mut v = s.envs[*e as usize].to_vec();
                v.push(x.clone());
                Rc::from(v)
            })
            .collect();
        let probe: FxMap<(u32, Key), u32> = pr
            .iter()
            .enumerate()
            .map(|(i, (e, x))| ((*e, Key(x.clone())), i as u32))
            .collect();
        let child = Scope::new(s.depth + 1, names, envs, Some(probe), false, &self.consts);
        let id = self.scopes.len();
        self.scopes.push(child);
        self.scopes[sid].lambdas.push((kind, id));
    }

    fn deduced_scope(&mut self, sid: ScopeId, pairs: Vec<(u32, V)>) -> ScopeId {
        let key = (sid, pairs);
        if let Some(&id) = self.deduced.get(&key) {
            return id;
        }
        let s = &self.scopes[sid];
        let mut names = s.names.clone();
        names.push(fresh_name(&s.names));
        let envs: Vec<Rc<[V]>> = key
            .1
            .iter()
            .map(|(e, x)| {
                let mut v = s.envs[*e as usize].to_vec();
                v.push(x.clone());
                Rc::from(v)
            })
            .collect();
        let child = Scope::new(s.depth + 1, names, envs, None, true, &self.consts);
        let id = self.scopes.len();
        self.scopes.push(child);
        self.deduced.insert(key, id);
        id
    }

    /// A target in a scope (the same one again for the same wants).
    fn add_target(&mut self, sid: ScopeId, want: Want, depth: u8) -> usize {
        if let Some(&t) = self.target_index.get(&(sid, want.clone())) {
            return t;
        }
        let id = self.targets.len();
        let mut target = Target {
            scope: sid,
            want: want.clone(),
            depth,
            hits: Vec::new(),
            deductions: Vec::new(),
        };
        let s = &self.scopes[sid];
        for (i, t) in s.terms.iter().enumerate() {
            if !t.dead && target.want.matches(&t.vals) {
                target
                    .hits
                    .push((t.size, t.nodes, t.uses, Hit::Term(i as TermId)));
            }
        }
        let small: Vec<TermId> = s
            .terms
            .iter()
            .enumerate()
            .filter(|(_, t)| t.size <= DEDUCE_MAX && !t.dead)
            .map(|(i, _)| i as TermId)
            .collect();
        self.targets.push(target);
        self.target_index.insert((sid, want), id);
        self.scopes[sid].targets.push(id);
        for t in small {
            self.deduce(id, t);
        }
        id
    }

    fn deduce_fresh(&mut self, sid: ScopeId) {
        let fresh = std::mem::take(&mut self.scopes[sid].fresh);
        if fresh.is_empty() {
            return;
        }
        let targets = self.scopes[sid].targets.clone();
        for tg in targets {
            for &t in &fresh {
                self.deduce(tg, t);
            }
        }
    }

    fn deduce(&mut self, target: usize, t: TermId) {
        let (sid, depth) = (self.targets[target].scope, self.targets[target].depth);
        if depth >= MAX_DEPTH || self.targets[target].deductions.len() >= MAX_DEDUCTIONS {
            return;
        }
        let Want::Exact(w) = &self.targets[target].want else {
            return;
        };
        let term = &self.scopes[sid].terms[t as usize];
        if term.uses == 0 {
            return;
        }
        let size = term.size as usize;
        let nodes = term.nodes as usize;
        let on_param = matches!(term.expr, Expr::Var(_));
        // `(map f (map g C))` is `(map (fn [x] (f (g x))) C)`: a per-item deduction over a
        // mapped collection repeats the one over `C`.
        let mapped = matches!(term.expr, Expr::App { op: Op::Map, .. });
        let mut proposals = propose(w, term);
        if mapped {
            proposals.retain(|p| matches!(p.rule, Rule::Filter | Rule::Remove | Rule::Assoc));
        }
        for p in proposals {
            if self.targets[target].deductions.len() >= MAX_DEDUCTIONS {
                break;
            }
            let d = match p.child {
                Child::Lambda { pairs, want } => {
                    let cs = self.deduced_scope(sid, pairs);
                    let child = self.add_target(cs, want, depth + 1);
                    let split = matches!(
                        p.rule,
                        Rule::Filter | Rule::Remove | Rule::Mapcat | Rule::GroupBy
                    );
                    Deduction {
                        rule: p.rule,
                        coll: t,
                        children: vec![child],
                        keys: Vec::new(),
                        overhead: 2 + size,
                        overhead_nodes: 2 + nodes,
                        bonus: if depth == 0 && split && on_param {
                            SPLIT_BONUS
                        } else {
                            0
                        },
                    }
                }
                Child::Same { keys, wants } => {
                    let children: Vec<usize> = wants
                        .into_iter()
                        .map(|w| self.add_target(sid, w, depth + 1))
                        .collect();
                    Deduction {
                        rule: p.rule,
                        coll: t,
                        children,
                        overhead: 1 + size + keys.len(),
                        overhead_nodes: 1 + nodes + keys.len(),
                        bonus: 0,
                        keys,
                    }
                }
            };
            if crate::bank::TRACE {
                eprintln!(
                    "deduce target {target} (depth {depth}) {:?} over {} -> {:?}",
                    d.rule,
                    render(&self.scopes, sid, t),
                    d.children
                );
            }
            self.targets[target].deductions.push(d);
        }
    }

    /// All solutions of `target` of exactly cost `size`: deduced ones first.
    pub(crate) fn solutions(&mut self, target: usize, size: usize) -> Vec<Sol> {
        let mut out = (*self.part(target, size, Part::Deduced)).clone();
        out.extend(self.part(target, size, Part::Hits).iter().cloned());
        out.truncate(MAX_SOLUTIONS);
        out
    }

    /// One part of the solutions of `target` of cost `size`. Deduced solutions grow only the
    /// children's scopes; hits grow the target's own scope to `size`.
    pub(crate) fn part(&mut self, target: usize, size: usize, part: Part) -> Rc<Vec<Sol>> {
        if let Some(c) = self.cache.get(&(target, size, part)) {
            return c.clone();
        }
        let sid = self.targets[target].scope;
        let mut out: Vec<Sol> = Vec::new();
        match part {
            Part::Hits => {
                self.ensure(sid, size);
                for (cost, nodes, uses, hit) in &self.targets[target].hits {
                    if *cost as usize != size || out.len() >= MAX_SOLUTIONS {
                        continue;
                    }
                    let uses = *uses;
                    let src = match hit {
                        Hit::Term(t) => render(&self.scopes, sid, *t),
                        Hit::New(e) => render_expr(&self.scopes, sid, e, &[]),
                    };
                    out.push(Sol {
                        src,
                        nodes: *nodes as usize,
                        uses,
                    });
                }
            }
            Part::Deduced => {
                let n = self.deductions(target, size);
                for i in 0..n {
                    if out.len() >= MAX_SOLUTIONS {
                        break;
                    }
                    out.extend(self.via(target, size, i, None));
                }
                out.truncate(MAX_SOLUTIONS);
            }
        }
        let out = Rc::new(out);
        self.cache.insert((target, size, part), out.clone());
        out
    }

    /// The number of deductions of `target`, once its scope has the terms they start from.
    pub(crate) fn deductions(&mut self, target: usize, size: usize) -> usize {
        let sid = self.targets[target].scope;
        self.ensure(sid, size.min(DEDUCE_MAX as usize));
        self.targets[target].deductions.len()
    }

    /// The solutions of cost `size` of `target` through its deduction `i`, with the child's
    /// solutions of one part only (`Some`) or all of them.
    pub(crate) fn via(
        &mut self,
        target: usize,
        size: usize,
        i: usize,
        child_part: Option<Part>,
    ) -> Vec<Sol> {
        let mut out = Vec::new();
        let sid = self.targets[target].scope;
        let d = self.targets[target].deductions[i].clone();
        if size + d.bonus <= d.overhead {
            return out;
        }
        let rest = size + d.bonus - d.overhead;
        let coll = render(&self.scopes, sid, d.coll);
        let coll_uses = self.scopes[sid].terms[d.coll as usize].uses;
        let mask = (1u64 << self.scopes[sid].names.len()) - 1;
        if d.rule == Rule::Assoc {
            if child_part != Some(Part::Hits) {
                self.assoc_solutions(&d, &coll, coll_uses, rest, &mut out);
            }
            return out;
        }
        let child = d.children[0];
        let cs = self.targets[child].scope;
        let var = self.scopes[cs]
            .names
            .last()
            .map_or("x".into(), |n| n.to_string());
        let bodies: Vec<Sol> = match child_part {
            None => self.solutions(child, rest),
            Some(p) => (*self.part(child, rest, p)).clone(),
        };
        for body in bodies {
            if out.len() >= MAX_SOLUTIONS {
                break;
            }
            out.push(Sol {
                src: wrap(d.rule, &coll, &var, &[], std::slice::from_ref(&body.src)),
                nodes: d.overhead_nodes + body.nodes,
                uses: coll_uses | (body.uses & mask),
            });
        }
        out
    }

    fn assoc_solutions(
        &mut self,
        d: &Deduction,
        coll: &str,
        coll_uses: u64,
        rest: usize,
        out: &mut Vec<Sol>,
    ) {
        match d.children.as_slice() {
            [a] => {
                for v in self.solutions(*a, rest) {
                    if out.len() >= MAX_SOLUTIONS {
                        return;
                    }
                    out.push(Sol {
                        src: wrap(Rule::Assoc, coll, "", &d.keys, std::slice::from_ref(&v.src)),
                        nodes: d.overhead_nodes + v.nodes,
                        uses: coll_uses | v.uses,
                    });
                }
            }
            [a, b] => {
                for sa in 1..rest {
                    let va = self.solutions(*a, sa);
                    if va.is_empty() {
                        continue;
                    }
                    let vb = self.solutions(*b, rest - sa);
                    for x in &va {
                        for y in &vb {
                            if out.len() >= MAX_SOLUTIONS {
                                return;
                            }
                            out.push(Sol {
                                src: wrap(
                                    Rule::Assoc,
                                    coll,
                                    "",
                                    &d.keys,
                                    &[x.src.clone(), y.src.clone()],
                                ),
                                nodes: d.overhead_nodes + x.nodes + y.nodes,
                                uses: coll_uses | x.uses | y.uses,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The reorderings the examples cannot show: when every collection argument of every example
/// is already in ascending order (at least one with two items or more), sorting — either way,
/// since descending is then the reverse of the input — cannot be told apart from keeping or
/// reversing the input order; when every one is free of duplicates, neither can `distinct`.
/// Such steps cost [`PENALTY`] more.
fn unidentifiable(envs: &[Rc<[V]>]) -> Vec<Op> {
    let seqs: Vec<&[V]> = envs
        .iter()
        .flat_map(|e| e.iter())
        .filter_map(|v| match v {
            V::Seq(xs) => Some(&xs[..]),
            _ => None,
        })
        .collect();
    if !seqs.iter().any(|xs| xs.len() >= 2) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if seqs.iter().all(|xs| xs.windows(2).all(|w| w[0] <= w[1])) {
        out.extend([Op::Sort, Op::SortDesc]);
    }
    if seqs
        .iter()
        .all(|xs| xs.iter().enumerate().all(|(i, x)| !xs[..i].contains(x)))
    {
        out.push(Op::Distinct);
    }
    out
}

/// A lambda variable name not taken by the parameters or an enclosing lambda.
fn fresh_name(taken: &[Rc<str>]) -> Rc<str> {
    for n in ["x", "y", "z", "w", "v", "u"] {
        if !taken.iter().any(|t| &**t == n) {
            return Rc::from(n);
        }
    }
    let mut i = 1;
    loop {
        let n = format!("x{i}");
        if !taken.iter().any(|t| **t == *n) {
            return Rc::from(n.as_str());
        }
        i += 1;
    }
}
