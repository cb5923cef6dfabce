//! The constitution: an RTFS data file (one map) holding the trust level, the rules, the
//! quotas and the grants per capability. Validated on load; every error names the file, line,
//! column and key, and kiln refuses to run rather than run ungoverned.

use std::collections::BTreeMap;
use std::fmt;

use kiln_sandbox::Effect;
use rtfs::reader::{Form, FormKind, Span};

use super::decide::{ActionKind, MAX_TRUST, Verdict};

/// The built-in default (`constitution/constitution.rtfs`), used by a new home.
pub const DEFAULT: &str = include_str!("../../../../constitution/constitution.rtfs");

/// A constitution error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
    /// The key concerned, e.g. `:quotas :max-plan-nesting`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Which principals a rule concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// Only the human.
    Human,
    /// Only agents.
    Agent,
    /// Both.
    Any,
}

/// A rule: when an action matches, it decides (`:deny` wins over every level and rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// A name for messages and the chain.
    pub id: String,
    /// The action kinds it concerns (empty: every kind).
    pub actions: Vec<ActionKind>,
    /// A capability id glob (`*` matches any run of characters).
    pub capability: String,
    /// The effects it concerns (empty: any); matches when the action involves one of them.
    pub effects: Vec<Effect>,
    /// Whom it concerns.
    pub principal: PrincipalMatch,
    /// What it decides.
    pub decision: Verdict,
    /// Why (shown with every refusal and approval request it causes).
    pub reason: String,
}

/// The quotas (ARCHITECTURE.md §Budgets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// New agent-created capability versions per session (synthesized or registered).
    pub max_synthesis_per_session: u64,
    /// Plans executing plans.
    pub max_plan_nesting: u64,
    /// RTFS evaluation steps per plan run.
    pub plan_steps: u64,
    /// WebAssembly fuel per plan run.
    pub plan_wasm_fuel: u64,
    /// Wall time per plan run, ms.
    pub plan_ms: u64,
    /// LLM calls per session.
    pub llm_calls_per_session: u64,
    /// Expanded nodes the offline synthesizer may explore for one capability.
    pub synthesis_nodes: u64,
    /// Evaluation steps for each candidate program the synthesizer tries.
    pub synthesis_steps: u64,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            max_synthesis_per_session: 10,
            max_plan_nesting: 5,
            plan_steps: 10_000_000,
            plan_wasm_fuel: 10_000_000_000,
            plan_ms: 60_000,
            llm_calls_per_session: 50,
            synthesis_nodes: 1_000_000,
            synthesis_steps: 10_000,
        }
    }
}

/// A directory granted to a capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirSpec {
    /// The host path (relative paths are relative to the working directory).
    pub path: String,
    /// Where the guest sees it.
    pub guest: String,
    /// Writable.
    pub write: bool,
    /// For writable grants: the most bytes the capability may write there per call.
    pub quota_bytes: Option<u64>,
}

/// What a capability is granted beyond pure computation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantSpec {
    /// Directories.
    pub dirs: Vec<DirSpec>,
    /// Environment variable names (values are read at call time, never logged).
    pub env: Vec<String>,
}

/// A validated constitution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constitution {
    /// The trust level, 0–4.
    pub trust_level: u8,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// The quotas.
    pub quotas: Quotas,
    /// Grants per capability id.
    pub grants: BTreeMap<String, GrantSpec>,
}

/// Whether `id` matches the glob `pattern` (`*` matches any run of characters).
pub fn glob_match(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: &Span, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: span.line,
            column: span.column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The entries of a map form with keyword keys, refusing unknown and repeated keys.
    fn entries<'f>(
        &self,
        form: &'f Form,
        key: &str,
        known: &[&str],
    ) -> Result<Vec<(&'f str, &'f Form)>, ConfigError> {
        let FormKind::Map(items) = &form.kind else {
            return Err(self.err(&form.span, key, "expected a map {…}"));
        };
        let mut out: Vec<(&str, &Form)> = Vec::new();
        for pair in items.chunks(2) {
            let (k, v) = (&pair[0], &pair[1]);
            let Some(name) = k.as_keyword() else {
                return Err(self.err(&k.span, key, "keys here are keywords, e.g. :trust-level"));
            };
            let name = name.as_str();
            if !known.contains(&name) {
                return Err(self.err(
                    &k.span,
                    format!("{key} :{name}").trim(),
                    format!(
                        "unknown key; expected one of {}",
                        known
                            .iter()
                            .map(|k| format!(":{k}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
            if out.iter().any(|(n, _)| *n == name) {
                return Err(self.err(&k.span, format!("{key} :{name}").trim(), "given twice"));
            }
            out.push((name, v));
        }
        Ok(out)
    }

    fn uint(&self, f: &Form, key: &str, max: u64) -> Result<u64, ConfigError> {
        match f.kind {
            FormKind::Int(n) if n >= 0 && n as u64 <= max => Ok(n as u64),
            _ if max == i64::MAX as u64 => {
                Err(self.err(&f.span, key, "expected a non-negative integer"))
            }
            _ => Err(self.err(&f.span, key, format!("expected an integer from 0 to {max}"))),
        }
    }

    fn string(&self, f: &Form, key: &str) -> Result<String, ConfigError> {
        match &f.kind {
            FormKind::Str(s) => Ok(s.as_str().to_string()),
            _ => Err(self.err(&f.span, key, "expected a string")),
        }
    }

    fn keyword<'f>(&self, f: &'f Form, key: &str) -> Result<&'f str, ConfigError> {
        f.as_keyword()
            .map(|k| k.as_str())
            .ok_or_else(|| self.err(&f.span, key, "expected a keyword"))
    }

    fn vector<'f>(&self, f: &'f Form, key: &str) -> Result<&'f [Form], ConfigError> {
        match &f.kind {
            FormKind::Vector(v) => Ok(v),
            _ => Err(self.err(&f.span, key, "expected a vector […]")),
        }
    }

    fn boolean(&self, f: &Form, key: &str) -> Result<bool, ConfigError> {
        match f.kind {
            FormKind::Bool(b) => Ok(b),
            _ => Err(self.err(&f.span, key, "expected true or false")),
        }
    }
}

impl Constitution {
    /// Reads and validates a constitution from `text` (named `file` in errors).
    pub fn parse(text: &str, file: &str) -> Result<Constitution, ConfigError> {
        let cx = Ctx { file };
        let forms = rtfs::reader::read_program(text, &Default::default()).map_err(|e| {
            let loc = e.location().cloned();
            ConfigError {
                file: file.to_string(),
                line: loc.as_ref().map_or(0, |l| l.line),
                column: loc.as_ref().map_or(0, |l| l.column),
                key: String::new(),
                message: e.message().to_string(),
            }
        })?;
        let top = match forms.as_slice() {
            [one] => one,
            [] => {
                return Err(ConfigError {
                    file: file.to_string(),
                    line: 1,
                    column: 1,
                    key: String::new(),
                    message: "empty: a constitution is one map {:trust-level …}".into(),
                });
            }
            [_, second, ..] => {
                return Err(cx.err(
                    &second.span,
                    "",
                    "a constitution is exactly one map; this is a second form",
                ));
            }
        };
        let mut c = Constitution {
            trust_level: 0,
            rules: Vec::new(),
            quotas: Quotas::default(),
            grants: BTreeMap::new(),
        };
        let mut saw_level = false;
        for (k, v) in cx.entries(
            top,
            "",
            &["trust-level", "description", "rules", "quotas", "grants"],
        )? {
            let key = format!(":{k}");
            match k {
                "trust-level" => {
                    c.trust_level = cx.uint(v, &key, MAX_TRUST as u64)? as u8;
                    saw_level = true;
                }
                "description" => {
                    cx.string(v, &key)?;
                }
                "rules" => {
                    for (i, r) in cx.vector(v, &key)?.iter().enumerate() {
                        c.rules.push(parse_rule(&cx, r, &format!(":rules {i}"))?);
                    }
                }
                "quotas" => c.quotas = parse_quotas(&cx, v)?,
                "grants" => c.grants = parse_grants(&cx, v)?,
                _ => {}
            }
        }
        if !saw_level {
            return Err(cx.err(
                &top.span,
                ":trust-level",
                "missing (0 is the most restrictive)",
            ));
        }
        Ok(c)
    }
}

fn parse_rule(cx: &Ctx<'_>, f: &Form, at: &str) -> Result<Rule, ConfigError> {
    let mut rule = Rule {
        id: String::new(),
        actions: Vec::new(),
        capability: "*".into(),
        effects: Vec::new(),
        principal: PrincipalMatch::Any,
        decision: Verdict::Deny,
        reason: String::new(),
    };
    let (mut has_decision, mut has_reason) = (false, false);
    for (k, v) in cx.entries(
        f,
        at,
        &[
            "id",
            "action",
            "capability",
            "effects",
            "principal",
            "decision",
            "reason",
        ],
    )? {
        let key = format!("{at} :{k}");
        match k {
            "id" => rule.id = cx.string(v, &key)?,
            "action" => {
                let names: Vec<&Form> = match &v.kind {
                    FormKind::Vector(items) => items.iter().collect(),
                    _ => vec![v],
                };
                for n in names {
                    let name = cx.keyword(n, &key)?;
                    if name == "any" {
                        continue;
                    }
                    let a = ActionKind::parse(name).ok_or_else(|| {
                        cx.err(
                            &n.span,
                            &key,
                            format!(
                                "unknown action :{name}; expected :any or one of {}",
                                ActionKind::ALL
                                    .iter()
                                    .map(|a| format!(":{}", a.keyword()))
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            ),
                        )
                    })?;
                    rule.actions.push(a);
                }
            }
            "capability" => rule.capability = cx.string(v, &key)?,
            "effects" => {
                for e in cx.vector(v, &key)? {
                    let name = cx.keyword(e, &key)?;
                    rule.effects.push(
                        Effect::parse(name).ok_or_else(|| {
                            cx.err(&e.span, &key, format!("unknown effect :{name}"))
                        })?,
                    );
                }
            }
            "principal" => {
                rule.principal = match cx.keyword(v, &key)? {
                    "human" => PrincipalMatch::Human,
                    "agent" => PrincipalMatch::Agent,
                    "any" => PrincipalMatch::Any,
                    other => {
                        return Err(cx.err(
                            &v.span,
                            &key,
                            format!("unknown principal :{other}; expected :human, :agent or :any"),
                        ));
                    }
                }
            }
            "decision" => {
                rule.decision = match cx.keyword(v, &key)? {
                    "allow" => Verdict::Allow,
                    "deny" => Verdict::Deny,
                    "require-approval" => Verdict::RequireApproval,
                    other => {
                        return Err(cx.err(
                            &v.span,
                            &key,
                            format!(
                                "unknown decision :{other}; expected :allow, :deny or :require-approval"
                            ),
                        ));
                    }
                };
                has_decision = true;
            }
            "reason" => {
                rule.reason = cx.string(v, &key)?;
                has_reason = !rule.reason.trim().is_empty();
            }
            _ => {}
        }
    }
    if !has_decision {
        return Err(cx.err(&f.span, &format!("{at} :decision"), "missing"));
    }
    if !has_reason {
        return Err(cx.err(
            &f.span,
            &format!("{at} :reason"),
            "missing: every rule says why",
        ));
    }
    if rule.id.is_empty() {
        rule.id = at.trim_start_matches(':').to_string();
    }
    Ok(rule)
}

fn parse_quotas(cx: &Ctx<'_>, f: &Form) -> Result<Quotas, ConfigError> {
    let mut q = Quotas::default();
    for (k, v) in cx.entries(
        f,
        ":quotas",
        &[
            "max-synthesis-per-session",
            "max-plan-nesting",
            "plan-steps",
            "plan-wasm-fuel",
            "plan-ms",
            "llm-calls-per-session",
            "synthesis-nodes",
            "synthesis-steps",
        ],
    )? {
        let key = format!(":quotas :{k}");
        let n = cx.uint(v, &key, i64::MAX as u64)?;
        match k {
            "max-synthesis-per-session" => q.max_synthesis_per_session = n,
            "max-plan-nesting" => q.max_plan_nesting = n,
            "plan-steps" => q.plan_steps = n,
            "plan-wasm-fuel" => q.plan_wasm_fuel = n,
            "plan-ms" => q.plan_ms = n,
            "llm-calls-per-session" => q.llm_calls_per_session = n,
            "synthesis-nodes" => q.synthesis_nodes = n,
            "synthesis-steps" => q.synthesis_steps = n,
            _ => {}
        }
    }
    Ok(q)
}

fn parse_grants(cx: &Ctx<'_>, f: &Form) -> Result<BTreeMap<String, GrantSpec>, ConfigError> {
    let FormKind::Map(items) = &f.kind else {
        return Err(cx.err(&f.span, ":grants", "expected a map {\"capability.id\" {…}}"));
    };
    let mut out = BTreeMap::new();
    for pair in items.chunks(2) {
        let (k, v) = (&pair[0], &pair[1]);
        let id = cx.string(k, ":grants")?;
        kiln_store::registry::check_id(&id)
            .map_err(|e| cx.err(&k.span, ":grants", e.to_string()))?;
        let at = format!(":grants {id:?}");
        if out.contains_key(&id) {
            return Err(cx.err(&k.span, &at, "given twice"));
        }
        let mut g = GrantSpec::default();
        for (gk, gv) in cx.entries(v, &at, &["dirs", "env"])? {
            let key = format!("{at} :{gk}");
            match gk {
                "dirs" => {
                    for d in cx.vector(gv, &key)? {
                        let mut spec = DirSpec {
                            path: String::new(),
                            guest: "/data".into(),
                            write: false,
                            quota_bytes: None,
                        };
                        for (dk, dv) in
                            cx.entries(d, &key, &["path", "as", "write", "quota-bytes"])?
                        {
                            let dkey = format!("{key} :{dk}");
                            match dk {
                                "path" => spec.path = cx.string(dv, &dkey)?,
                                "as" => spec.guest = cx.string(dv, &dkey)?,
                                "write" => spec.write = cx.boolean(dv, &dkey)?,
                                "quota-bytes" => {
                                    spec.quota_bytes = Some(cx.uint(dv, &dkey, i64::MAX as u64)?)
                                }
                                _ => {}
                            }
                        }
                        if spec.path.is_empty() {
                            return Err(cx.err(&d.span, &format!("{key} :path"), "missing"));
                        }
                        if spec.quota_bytes.is_some() && !spec.write {
                            return Err(cx.err(
                                &d.span,
                                &format!("{key} :quota-bytes"),
                                "a byte quota applies only to a writable directory (:write true)",
                            ));
                        }
                        g.dirs.push(spec);
                    }
                }
                "env" => {
                    for e in cx.vector(gv, &key)? {
                        g.env.push(cx.string(e, &key)?);
                    }
                }
                _ => {}
            }
        }
        out.insert(id, g);
    }
    Ok(out)
}
