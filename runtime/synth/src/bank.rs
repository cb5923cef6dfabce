//! A scope's bank of terms, grown bottom-up one size at a time.
//!
//! A **scope** is a set of environments: the examples' arguments at the top, or — inside a
//! lambda — pairs of an outer environment and one item the lambda is applied to. Every term of
//! a scope is kept with its values in all environments; two terms with the same values are the
//! same for every program built on them (observational equivalence), so only the first — the
//! smallest, earliest in the component order — is kept.
//!
//! A lambda's body is a term of a child scope whose last variable is the lambda's argument.
//! Applying the lambda to an item that is one of the child's environments reads the value
//! already computed; any other item (a collection computed inside the program) is evaluated by
//! walking the body.

use std::rc::Rc;

use crate::ops::{self, A, COMPONENTS, Component, Cx, F1_BUILTINS, Fun, Lambdas, Op, Proj, Slot};
use crate::value::{FxMap, KINDS, Key, Kind, Kinds, V, print};

/// No term (end of a hash chain).
const NONE: TermId = TermId::MAX;

/// A hash of a value vector that reads a bounded part of each value (equal vectors hash
/// alike; the chain compares in full).
pub(crate) fn values_hash(vals: &[V]) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::value::Fx::default();
    for v in vals {
        let mut budget = 24u32;
        crate::value::hash_bounded(v, &mut h, &mut budget);
    }
    h.finish()
}

/// A term of another scope's term table.
pub(crate) type TermId = u32;
/// An index into the engine's scopes.
pub(crate) type ScopeId = usize;

/// Lambdas nest at most this deep (a lambda inside a lambda).
pub(crate) const MAX_LAMBDA_DEPTH: u8 = 2;
/// Items of one outer environment kept as a lambda scope's environments.
const PROBES_PER_ENV: usize = 8;
/// Environments of a lambda scope, at most.
const PROBES: usize = 48;
/// Terms up to this size start deductions.
pub(crate) const DEDUCE_MAX: u8 = 3;
pub(crate) const TRACE: bool = false;

/// An argument of an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    /// A term of the same scope.
    T(TermId),
    /// A lambda: the body, a term of a child scope.
    L { scope: u32, body: TermId },
    /// A builtin passed as a function.
    B(Op),
    /// A keyword constant of the same scope passed as a function.
    K(TermId),
    /// A map-valued variable of the same scope passed as a function (`(sort-by m ks)`: each
    /// item's value in the map).
    M(TermId),
}

/// How a term is built.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Var(u16),
    Const,
    App { op: Op, args: [Arg; 3], n: u8 },
}

/// One term with its values.
pub(crate) struct Term {
    pub expr: Expr,
    /// The cost: the size in nodes plus any evidence penalties; the bank's level.
    pub size: u8,
    /// AST nodes.
    pub nodes: u16,
    /// Replaced by a cheaper term with the same values.
    pub dead: bool,
    pub kind: Kind,
    /// The kind of the items the term hands to a function, by [`Proj`].
    pub items: [Kind; 3],
    /// The variables it mentions, as a bit set over the scope's variable slots.
    pub uses: u64,
    pub vals: Rc<[V]>,
}

/// One scope and its bank.
#[derive(Default)]
pub(crate) struct Scope {
    /// Lambda nesting (0 at the top).
    pub depth: u8,
    /// Variable names by slot (the parameters, then one per enclosing lambda).
    pub names: Vec<Rc<str>>,
    /// The variables' values, per environment.
    pub envs: Vec<Rc<[V]>>,
    /// (outer environment, item) → environment, for a lambda scope.
    pub probe: Option<FxMap<(u32, Key), u32>>,
    /// Drop every term that fails in some environment (scopes whose environments are exactly
    /// the ones a solution runs in).
    pub strict: bool,
    pub terms: Vec<Term>,
    /// Term ids by size, then kind.
    pub buckets: Vec<Vec<Vec<TermId>>>,
    /// Terms by a hash of their values (chained through `same_hash` on collisions).
    pub seen: FxMap<u64, TermId>,
    pub same_hash: Vec<TermId>,
    /// The largest size fully grown.
    pub level: usize,
    /// No more levels (the last one hit its share of the budget).
    pub frozen: bool,
    /// Lambda scopes by the kind of the items they take.
    pub lambdas: Vec<(Kind, ScopeId)>,
    /// Targets searched in this scope.
    pub targets: Vec<usize>,
    /// Small terms added since deductions last looked.
    pub fresh: Vec<TermId>,
}

impl Scope {
    /// A scope with its variables and constants as its size-1 terms.
    pub(crate) fn new(
        depth: u8,
        names: Vec<Rc<str>>,
        envs: Vec<Rc<[V]>>,
        probe: Option<FxMap<(u32, Key), u32>>,
        strict: bool,
        consts: &[V],
    ) -> Scope {
        let mut s = Scope {
            depth,
            names,
            envs,
            probe,
            strict,
            buckets: vec![vec![Vec::new(); KINDS]; 2],
            level: 1,
            ..Scope::default()
        };
        for slot in 0..s.names.len() {
            let vals: Vec<V> = s.envs.iter().map(|e| e[slot].clone()).collect();
            s.insert(Expr::Var(slot as u16), 1, 1, 1 << slot, vals);
        }
        for c in consts {
            let vals = vec![c.clone(); s.envs.len()];
            s.insert(Expr::Const, 1, 1, 0, vals);
        }
        s
    }

    /// The slot of this scope's own lambda variable (None at the top).
    pub(crate) fn own_slot(&self) -> Option<usize> {
        (self.depth > 0).then(|| self.names.len() - 1)
    }

    fn insert(
        &mut self,
        expr: Expr,
        size: u8,
        nodes: u16,
        uses: u64,
        vals: Vec<V>,
    ) -> Option<TermId> {
        let h = values_hash(&vals);
        let mut prev = None;
        let mut at = self.seen.get(&h).copied();
        while let Some(old) = at {
            if *self.terms[old as usize].vals == *vals {
                // Keep the cheaper of two equivalent terms (a penalized one may come first).
                if self.terms[old as usize].size <= size {
                    return None;
                }
                self.terms[old as usize].dead = true;
                break;
            }
            prev = Some(old);
            at = match self.same_hash[old as usize] {
                NONE => None,
                next => Some(next),
            };
        }
        let _ = prev;
        let kind = join_kinds(&vals);
        let items = item_kinds(&vals);
        let vals: Rc<[V]> = Rc::from(vals);
        let id = self.terms.len() as TermId;
        while self.buckets.len() <= size as usize {
            self.buckets.push(vec![Vec::new(); KINDS]);
        }
        self.buckets[size as usize][kind as usize].push(id);
        // The newest term heads its hash chain.
        let next = self.seen.insert(h, id).unwrap_or(NONE);
        self.same_hash.push(next);
        self.terms.push(Term {
            expr,
            size,
            nodes,
            dead: false,
            kind,
            items,
            uses,
            vals,
        });
        if size <= DEDUCE_MAX && !self.targets.is_empty() {
            self.fresh.push(id);
        }
        Some(id)
    }

    /// Terms of a size whose kind is in a set, in creation order per kind.
    fn of(&self, size: usize, kinds: Kinds) -> Vec<TermId> {
        let Some(b) = self.buckets.get(size) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, ids) in b.iter().enumerate() {
            if kinds & (1 << k) != 0 {
                out.extend(ids.iter().filter(|&&t| !self.terms[t as usize].dead));
            }
        }
        out
    }

    fn consts(&self, kinds: Kinds) -> Vec<TermId> {
        self.of(1, kinds)
            .into_iter()
            .filter(|&t| matches!(self.terms[t as usize].expr, Expr::Const))
            .collect()
    }

    /// The lambda scope for items of a kind, if made.
    pub(crate) fn lambda_for(&self, kind: Kind) -> Option<ScopeId> {
        self.lambdas
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| *s)
    }
}

fn join_kinds(vals: &[V]) -> Kind {
    vals.iter().fold(Kind::Unknown, |k, v| k.join(v.kind()))
}

fn item_kinds(vals: &[V]) -> [Kind; 3] {
    let mut out = [Kind::Unknown; 3];
    for v in vals {
        match v {
            V::Seq(xs) => {
                for x in xs.iter() {
                    out[0] = out[0].join(x.kind());
                }
            }
            V::Map(m) => {
                if !m.is_empty() {
                    out[0] = out[0].join(Kind::Seq);
                }
                for (k, x) in m.iter() {
                    out[1] = out[1].join(x.kind());
                    out[2] = out[2].join(k.kind());
                }
            }
            V::Str(s) if !s.is_empty() => out[0] = out[0].join(Kind::Str),
            _ => {}
        }
    }
    out
}

/// The items a term hands to a function under a projection, in one environment.
pub(crate) fn items_of(v: &V, proj: Proj) -> Vec<V> {
    match (v, proj) {
        (V::Map(m), Proj::Vals) => m.iter().map(|(_, x)| x.clone()).collect(),
        (V::Map(m), Proj::Keys) => m.iter().map(|(k, _)| k.clone()).collect(),
        (_, Proj::Items) => ops::items(v).map(|c| c.into_owned()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The items of the given kind that the terms of `s` up to `max_size` hand to functions, per
/// environment, as a lambda scope's environments: (outer environment, item).
pub(crate) fn probes(s: &Scope, kind: Kind, max_size: usize) -> Vec<(u32, V)> {
    let mut per_env: Vec<Vec<V>> = vec![Vec::new(); s.envs.len()];
    let mut total = 0;
    for t in &s.terms {
        if t.size as usize > max_size {
            continue;
        }
        for (p, proj) in [Proj::Items, Proj::Vals, Proj::Keys]
            .into_iter()
            .enumerate()
        {
            if t.items[p] != kind {
                continue;
            }
            for (e, v) in t.vals.iter().enumerate() {
                for x in items_of(v, proj) {
                    if total >= PROBES {
                        break;
                    }
                    let list = &mut per_env[e];
                    if list.len() < PROBES_PER_ENV && !list.contains(&x) {
                        list.push(x);
                        total += 1;
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (e, list) in per_env.into_iter().enumerate() {
        for x in list {
            out.push((e as u32, x));
        }
    }
    out
}

/// A lambda being applied in some environment of the scope that holds the application.
pub(crate) struct Lambda<'a> {
    pub scopes: &'a [Scope],
    pub scope: ScopeId,
    pub body: TermId,
    /// The variables of the calling environment.
    pub env: &'a [V],
    /// The calling environment's index, when it is one of the caller's own.
    pub env_idx: Option<u32>,
}

impl Lambda<'_> {
    pub(crate) fn call(&self, cx: &mut Cx, x: &V) -> V {
        let s = &self.scopes[self.scope];
        if let (Some(i), Some(probe)) = (self.env_idx, &s.probe)
            && let Some(&e) = probe.get(&(i, Key(x.clone())))
        {
            return s.terms[self.body as usize].vals[e as usize].clone();
        }
        let mut env = Vec::with_capacity(self.env.len() + 1);
        env.extend_from_slice(self.env);
        env.push(x.clone());
        eval_term(self.scopes, self.scope, self.body, &env, cx)
    }
}

/// Evaluates a term in an environment that is not necessarily one of its scope's.
pub(crate) fn eval_term(scopes: &[Scope], sid: ScopeId, t: TermId, env: &[V], cx: &mut Cx) -> V {
    let s = &scopes[sid];
    let term = &s.terms[t as usize];
    match &term.expr {
        Expr::Var(i) => env[*i as usize].clone(),
        Expr::Const => term.vals[0].clone(),
        Expr::App { op, args, n } => {
            let n = *n as usize;
            let mut vals: [V; 3] = [V::Nil, V::Nil, V::Nil];
            for i in 0..n {
                if let Arg::T(a) = args[i] {
                    vals[i] = eval_term(scopes, sid, a, env, cx);
                    if vals[i].is_err() {
                        return V::Err;
                    }
                }
            }
            let funs: [Option<Fun<'_>>; 3] = std::array::from_fn(|i| {
                if i >= n {
                    return None;
                }
                fun_of(scopes, s, args[i], env, None)
            });
            let av: Vec<A<'_>> = (0..n)
                .map(|i| match &funs[i] {
                    Some(f) => A::F(f),
                    None => A::V(&vals[i]),
                })
                .collect();
            ops::eval(*op, cx, &av)
        }
    }
}

fn fun_of<'a>(
    scopes: &'a [Scope],
    s: &'a Scope,
    arg: Arg,
    env: &'a [V],
    env_idx: Option<u32>,
) -> Option<Fun<'a>> {
    match arg {
        Arg::T(_) => None,
        Arg::B(op) => Some(Fun::B(op)),
        Arg::K(k) => Some(Fun::K(&s.terms[k as usize].vals[0])),
        Arg::M(m) => match s.terms[m as usize].expr {
            Expr::Var(i) => env.get(i as usize).map(Fun::M),
            _ => None,
        },
        Arg::L { scope, body } => Some(Fun::L(Lambda {
            scopes,
            scope: scope as usize,
            body,
            env,
            env_idx,
        })),
    }
}

/// What a growth step reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grown {
    /// The level is complete.
    Done,
    /// The level hit its node allowance (the scope should freeze).
    Capped,
    /// The whole search's node budget is spent.
    Exhausted,
}

/// The context of one level's growth.
pub(crate) struct Growth<'a> {
    /// Every scope (the one growing is taken out and stands empty).
    pub scopes: &'a [Scope],
    /// Steps per evaluation in one environment.
    pub steps: u64,
    /// Nodes explored by the whole search.
    pub nodes: &'a mut u64,
    pub node_budget: u64,
    /// Nodes this level may use.
    pub level_allowance: u64,
    /// Operations whose effect the examples cannot show, and the extra cost they carry.
    pub unidentifiable: &'a [Op],
    pub penalty: u8,
    /// Called with every candidate that succeeds everywhere, before it is deduplicated, with
    /// its cost and nodes.
    pub check: &'a mut Check<'a>,
}

/// What [`Growth::check`] is called with: the scope, the candidate's values, its expression,
/// its cost, its nodes and the variables it uses.
pub(crate) type Check<'a> = dyn FnMut(&Scope, &[V], &Expr, u8, u16, u64) + 'a;

struct Level {
    nodes: u64,
    stop: Option<Grown>,
}

/// Grows `s` by one size, `level` (= `s.level + 1`).
pub(crate) fn grow(s: &mut Scope, level: usize, g: &mut Growth<'_>) -> Grown {
    let mut lv = Level {
        nodes: 0,
        stop: None,
    };
    while s.buckets.len() <= level {
        s.buckets.push(vec![Vec::new(); KINDS]);
    }
    for comp in COMPONENTS {
        let n = comp.slots.len();
        if s.depth < comp.min_depth {
            continue;
        }
        let own = comp.cost as usize
            + if g.unidentifiable.contains(&comp.op) {
                g.penalty as usize
            } else {
                0
            };
        if level < own + n {
            continue;
        }
        let total = level - own;
        let before = lv.nodes;
        let mut sizes = [0usize; 3];
        compositions(comp, n, total, 0, &mut sizes, &mut |sizes| {
            if lv.stop.is_some() {
                return;
            }
            enumerate(s, comp, sizes, level as u8, g, &mut lv);
        });
        if TRACE && lv.nodes - before > 2000 {
            eprintln!(
                "  depth {} envs {} level {level} {:?}: {}",
                s.depth,
                s.envs.len(),
                comp.op,
                lv.nodes - before
            );
        }
        if let Some(stop) = lv.stop {
            if TRACE {
                eprintln!(
                    "scope depth {} names {:?} envs {} level {level}: {} nodes, {} terms STOP {stop:?}",
                    s.depth,
                    s.names,
                    s.envs.len(),
                    lv.nodes,
                    s.terms.len()
                );
            }
            return stop;
        }
    }
    if TRACE {
        eprintln!(
            "scope depth {} names {:?} envs {} level {level}: {} nodes, {} terms",
            s.depth,
            s.names,
            s.envs.len(),
            lv.nodes,
            s.terms.len()
        );
    }
    s.level = level;
    Grown::Done
}

/// Calls `f` with every split of `total` over the slots (literal and builtin-function slots
/// take exactly 1).
fn compositions(
    comp: &Component,
    n: usize,
    total: usize,
    i: usize,
    sizes: &mut [usize; 3],
    f: &mut dyn FnMut(&[usize; 3]),
) {
    if i == n {
        if total == 0 {
            f(sizes);
        }
        return;
    }
    let rest_min = n - i - 1;
    if total < 1 + rest_min {
        return;
    }
    let fixed = matches!(comp.slots[i], Slot::Lit(_) | Slot::F2)
        || (matches!(comp.slots[i], Slot::F1) && comp.lambdas == Lambdas::None);
    let max = if fixed { 1 } else { total - rest_min };
    for s in 1..=max {
        sizes[i] = s;
        compositions(comp, n, total - s, i + 1, sizes, f);
    }
}

fn enumerate(
    s: &mut Scope,
    comp: &Component,
    sizes: &[usize; 3],
    size: u8,
    g: &mut Growth<'_>,
    lv: &mut Level,
) {
    let n = comp.slots.len();
    if comp.commutative && sizes[0] > sizes[1] {
        return;
    }
    let coll = comp.slots.iter().position(|x| matches!(x, Slot::Coll(..)));
    let f1 = comp.slots.iter().position(|x| matches!(x, Slot::F1));
    // Lists for the slots that do not depend on another slot's choice.
    let mut lists: [Vec<Arg>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..n {
        if Some(i) == f1 && coll.is_some() {
            continue;
        }
        lists[i] = slot_list(s, comp, comp.slots[i], sizes[i]);
        if lists[i].is_empty() {
            return;
        }
    }
    let mut args = [Arg::B(Op::Identity); 3];
    match (coll, f1) {
        (Some(ci), Some(fi)) => {
            let Slot::Coll(_, proj) = comp.slots[ci] else {
                return;
            };
            let colls = std::mem::take(&mut lists[ci]);
            // The functions depend only on the kind of the collection's items.
            let mut by_kind: Vec<(Kind, Rc<Vec<Arg>>)> = Vec::new();
            for c in colls {
                let Arg::T(ct) = c else { continue };
                let kind = s.terms[ct as usize].items[proj as usize];
                let fs = match by_kind.iter().find(|(k, _)| *k == kind) {
                    Some((_, fs)) => fs.clone(),
                    None => {
                        let fs = Rc::new(f1_list(s, g.scopes, comp, proj, ct, sizes[fi]));
                        by_kind.push((kind, fs.clone()));
                        fs
                    }
                };
                for &f in fs.iter() {
                    args[ci] = c;
                    args[fi] = f;
                    attempt(s, comp, args, n, size, g, lv);
                    if lv.stop.is_some() {
                        return;
                    }
                }
            }
        }
        _ => product(s, comp, &lists, n, 0, &mut args, size, g, lv),
    }
}

#[allow(clippy::too_many_arguments)]
fn product(
    s: &mut Scope,
    comp: &Component,
    lists: &[Vec<Arg>; 3],
    n: usize,
    i: usize,
    args: &mut [Arg; 3],
    size: u8,
    g: &mut Growth<'_>,
    lv: &mut Level,
) {
    if i == n {
        if comp.commutative
            && let (Arg::T(a), Arg::T(b)) = (args[0], args[1])
            && s.terms[a as usize].size == s.terms[b as usize].size
            && a > b
        {
            return;
        }
        attempt(s, comp, *args, n, size, g, lv);
        return;
    }
    for &a in &lists[i] {
        args[i] = a;
        product(s, comp, lists, n, i + 1, args, size, g, lv);
        if lv.stop.is_some() {
            return;
        }
    }
}

fn slot_list(s: &Scope, comp: &Component, slot: Slot, size: usize) -> Vec<Arg> {
    match slot {
        Slot::Val(k) | Slot::Coll(k, _) => s.of(size, k).into_iter().map(Arg::T).collect(),
        Slot::Lit(k) => s.consts(k).into_iter().map(Arg::T).collect(),
        Slot::F2 => ops::f2_builtins(comp.op)
            .iter()
            .map(|&o| Arg::B(o))
            .collect(),
        // `update`'s function: builtins only.
        Slot::F1 => F1_BUILTINS.iter().map(|&o| Arg::B(o)).collect(),
    }
}

/// The functions for an `F1` slot applied to the items of term `coll`: keywords (record
/// fields first), then builtins, then lambdas from the child scope for the items' kind.
fn f1_list(
    s: &Scope,
    scopes: &[Scope],
    comp: &Component,
    proj: Proj,
    coll: TermId,
    size: usize,
) -> Vec<Arg> {
    if size == 1 {
        let mut out: Vec<Arg> = s
            .consts(crate::value::kinds::KW)
            .into_iter()
            .map(Arg::K)
            .collect();
        // Map-valued variables, as lookups of each item.
        out.extend(
            s.of(1, crate::value::kinds::MAP)
                .into_iter()
                .filter(|&t| matches!(s.terms[t as usize].expr, Expr::Var(_)))
                .map(Arg::M),
        );
        let predicates_only = comp.returns == crate::value::kinds::TRUTH;
        out.extend(
            F1_BUILTINS
                .iter()
                .filter(|&&o| !predicates_only || ops::is_predicate(o))
                .map(|&o| Arg::B(o)),
        );
        return out;
    }
    let kind = s.terms[coll as usize].items[proj as usize];
    let Some(child) = s.lambda_for(kind) else {
        return Vec::new();
    };
    let cs = &scopes[child];
    let Some(own) = cs.own_slot() else {
        return Vec::new();
    };
    let own_bit = 1u64 << own;
    cs.of(size - 1, comp.returns | crate::value::kinds::MIXED)
        .into_iter()
        .filter(|&b| {
            let t = &cs.terms[b as usize];
            if t.uses & own_bit == 0 {
                // A constant function: only for `map`-like slots, and small.
                if comp.lambdas == Lambdas::Own || t.size > 3 {
                    return false;
                }
            }
            !redundant_body(cs, t, own)
        })
        .map(|b| Arg::L {
            scope: child as u32,
            body: b,
        })
        .collect()
}

/// A body that only passes its argument to one builtin or keyword (`(fn [x] (inc x))`),
/// which the slot already offers by name, or is the argument itself.
fn redundant_body(cs: &Scope, t: &Term, own: usize) -> bool {
    let is_own = |a: Arg| matches!(a, Arg::T(v) if matches!(cs.terms[v as usize].expr, Expr::Var(i) if i as usize == own));
    match &t.expr {
        Expr::Var(i) => *i as usize == own,
        Expr::App { op, args, n: 1 } => F1_BUILTINS.contains(op) && is_own(args[0]),
        Expr::App {
            op: Op::KeyGet,
            args,
            n: 2,
        } => is_own(args[1]),
        _ => false,
    }
}

fn attempt(
    s: &mut Scope,
    comp: &Component,
    args: [Arg; 3],
    n: usize,
    size: u8,
    g: &mut Growth<'_>,
    lv: &mut Level,
) {
    let mut uses = 0u64;
    for a in &args[..n] {
        match *a {
            Arg::T(t) | Arg::M(t) => uses |= s.terms[t as usize].uses,
            Arg::L { scope, body } => {
                let cs = &g.scopes[scope as usize];
                let own = cs.own_slot().map_or(0, |o| 1u64 << o);
                uses |= cs.terms[body as usize].uses & !own;
            }
            _ => {}
        }
    }
    if uses == 0 {
        return;
    }
    let same_kind = comp.same_kind || (comp.op == Op::Vector2 && s.depth == 0);
    if same_kind && let (Arg::T(a), Arg::T(b)) = (args[0], args[1]) {
        let (ka, kb) = (s.terms[a as usize].kind, s.terms[b as usize].kind);
        if ka != kb
            && !matches!(ka, Kind::Mixed | Kind::Num)
            && !matches!(kb, Kind::Mixed | Kind::Num)
        {
            return;
        }
    }
    *g.nodes += 1;
    lv.nodes += 1;
    if *g.nodes >= g.node_budget {
        lv.stop = Some(Grown::Exhausted);
        return;
    }
    if lv.nodes >= g.level_allowance {
        lv.stop = Some(Grown::Capped);
        return;
    }
    let envs = s.envs.len();
    let mut vals: Vec<V> = Vec::with_capacity(envs);
    let mut errs = 0;
    let mut cx = Cx {
        fuel: 0,
        clamped: false,
    };
    let (nil, err) = (V::Nil, V::Err);
    {
        let sr: &Scope = s;
        for e in 0..envs {
            cx.fuel = g.steps as i64;
            let env = &sr.envs[e];
            let funs: [Option<Fun<'_>>; 3] = std::array::from_fn(|i| {
                if i >= n {
                    return None;
                }
                fun_of(g.scopes, sr, args[i], env, Some(e as u32))
            });
            let r = {
                let mut av: [A<'_>; 3] = [A::V(&nil), A::V(&nil), A::V(&nil)];
                for i in 0..n {
                    av[i] = match (&funs[i], args[i]) {
                        (Some(f), _) => A::F(f),
                        (None, Arg::T(t)) => A::V(&sr.terms[t as usize].vals[e]),
                        (None, _) => A::V(&err),
                    };
                }
                ops::eval(comp.op, &mut cx, &av[..n])
            };
            if r.is_err() {
                errs += 1;
                if sr.strict {
                    return;
                }
            }
            vals.push(r);
        }
    }
    if errs == envs {
        return;
    }
    if vals.iter().all(|v| matches!(v, V::Nil | V::Err)) {
        return;
    }
    let expr = Expr::App {
        op: comp.op,
        args,
        n: n as u8,
    };
    let mut nodes: u16 = 1;
    for a in &args[..n] {
        nodes += match *a {
            Arg::T(t) => s.terms[t as usize].nodes,
            Arg::K(_) | Arg::B(_) | Arg::M(_) => 1,
            Arg::L { scope, body } => 1 + g.scopes[scope as usize].terms[body as usize].nodes,
        };
    }
    // A result that leans on truncation or clamping is weaker evidence: it costs more.
    let size = if cx.clamped {
        size.saturating_add(g.penalty)
    } else {
        size
    };
    if errs == 0 && !s.targets.is_empty() {
        (g.check)(s, &vals, &expr, size, nodes, uses);
    }
    s.insert(expr, size, nodes, uses, vals);
}

/// The source of a term.
pub(crate) fn render(scopes: &[Scope], sid: ScopeId, t: TermId) -> String {
    let s = &scopes[sid];
    let term = &s.terms[t as usize];
    render_expr(scopes, sid, &term.expr, &term.vals)
}

/// The source of an expression of scope `sid` (`vals` are its values, for constants).
pub(crate) fn render_expr(scopes: &[Scope], sid: ScopeId, expr: &Expr, vals: &[V]) -> String {
    let s = &scopes[sid];
    match expr {
        Expr::Var(i) => s.names[*i as usize].to_string(),
        Expr::Const => print(&vals[0]),
        Expr::App { op, args, n } => {
            let parts: Vec<String> = args[..*n as usize]
                .iter()
                .map(|a| match *a {
                    Arg::T(t) => render(scopes, sid, t),
                    Arg::K(k) | Arg::M(k) => render(scopes, sid, k),
                    Arg::B(op) => ops::fn_name(op).to_string(),
                    Arg::L { scope, body } => {
                        let cs = &scopes[scope as usize];
                        format!(
                            "(fn [{}] {})",
                            cs.names[cs.names.len() - 1],
                            render(scopes, scope as usize, body)
                        )
                    }
                })
                .collect();
            match op {
                Op::KeyGet => format!("({} {})", parts[0], parts[1]),
                Op::SortDesc => format!("(sort > {})", parts[0]),
                Op::Mean => format!("(float (/ (reduce + 0 {x}) (count {x})))", x = parts[0]),
                Op::SortByDesc => format!("(sort-by {} > {})", parts[0], parts[1]),
                _ => {
                    let head = COMPONENTS
                        .iter()
                        .find(|c| c.op == *op)
                        .map_or("?", |c| c.head);
                    format!("({} {})", head, parts.join(" "))
                }
            }
        }
    }
}
