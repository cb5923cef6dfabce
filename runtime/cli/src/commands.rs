//! Running a parsed command line: each command calls the kernel and returns a [`Reply`] (or a
//! [`Failure`]) — its text and its JSON — which [`run`] prints in the form asked for.
//! Read-only commands open an existing home for reading only: they never create one and
//! never write.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_kernel::diagnostic::Diagnostic;
use kiln_kernel::run::PlanEnd;
use kiln_kernel::{KernelError, records};
use kiln_store::Home;
use serde_json::{Value as Json, json};

use crate::args::{
    ApprovalAction, CapAction, ChainAction, Cli, Command, ConstitutionAction, PlansAction,
};
use crate::json;
use crate::output::{BLOCKED, ERROR, OK, err, outln};
use crate::report::{json_diagnostic, render};
use crate::show::{self, Shown};

/// What a command produced.
pub struct Reply {
    /// Lines for stdout.
    stdout: Vec<String>,
    /// Text for stderr (printed before stdout).
    stderr: String,
    /// The whole `--json` document.
    json: Json,
    /// The exit code.
    code: u8,
}

impl Reply {
    fn shown((lines, value): Shown) -> Reply {
        Reply {
            stdout: lines,
            stderr: String::new(),
            json: json::ok(value),
            code: OK,
        }
    }

    fn line(line: String, value: Json) -> Reply {
        Reply::shown((vec![line], value))
    }
}

/// Why a command failed.
pub enum Failure {
    /// A kernel error (exit 3 when blocked, else 1).
    Kernel(KernelError),
    /// Already rendered: the text for stderr, the JSON, the exit code.
    Rendered {
        /// For stderr.
        text: String,
        /// The `--json` document.
        json: Json,
        /// The exit code.
        code: u8,
    },
}

impl From<KernelError> for Failure {
    fn from(e: KernelError) -> Failure {
        Failure::Kernel(e)
    }
}

impl From<kiln_store::StoreError> for Failure {
    fn from(e: kiln_store::StoreError) -> Failure {
        Failure::Kernel(e.into())
    }
}

fn invalid(message: String) -> Failure {
    Failure::Kernel(KernelError::Invalid(message))
}

type Done = Result<Reply, Failure>;

/// Runs a parsed command line and prints what it produced.
pub fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    let home = cli.home.clone().unwrap_or_else(|| PathBuf::from(".kiln"));
    let done = match cli.command {
        Command::Eval {
            expr,
            time_limit_ms,
        } => eval(&expr, time_limit_ms),
        Command::Run { file, trust, data } => match read(&file) {
            Ok(text) => run_source(
                &home,
                text,
                file.display().to_string(),
                trust,
                data.as_deref(),
            ),
            Err(e) => Err(e),
        },
        Command::Goal { text, data, trust } => run_source(
            &home,
            kiln_kernel::goal_plan(&text),
            "<goal>".into(),
            trust,
            Some(&data),
        ),
        Command::Synth {
            spec,
            nodes,
            steps,
            register,
        } => match read(&spec) {
            Ok(text) => {
                let name = spec.display().to_string();
                let failed = |f: crate::synth::SynthFailure| match f {
                    crate::synth::SynthFailure::Source(e) => rtfs_failure(&e, (&name, &text)),
                    crate::synth::SynthFailure::Invalid(m) => invalid(m),
                };
                match register {
                    None => crate::synth::synth(&name, &text, nodes, steps)
                        .map(Reply::shown)
                        .map_err(failed),
                    Some(id) => match crate::synth::register_plan(&name, &text, &id) {
                        Ok(plan) => {
                            run_source(&home, plan, "<synth --register>".into(), None, None)
                        }
                        Err(f) => Err(failed(f)),
                    },
                }
            }
            Err(e) => Err(e),
        },
        Command::Repl => match crate::repl::repl(cli.home) {
            Ok(()) => Ok(Reply::shown((Vec::new(), Json::Null))),
            Err(e) => Err(invalid(e)),
        },
        Command::Cap { action } => cap(action, &home),
        Command::Chain { action } => return chain(action, &home, json),
        Command::Constitution { action } => constitution(action, &home),
        Command::Plans { action } => plans(action, &home),
        Command::Approvals { action } => approvals(action, &home),
        Command::Verify { head } => reading(&home, |h| {
            let (shown, sound) = show::verify(&records::verify(h, head.as_deref())?);
            let mut r = Reply::shown(shown);
            if !sound {
                r.code = ERROR;
                r.json["ok"] = json!(false);
            }
            Ok(r)
        }),
        Command::Gc { grace } => kernel(&home, |k| {
            let (report, grace) = k.gc_as_human(std::time::Duration::from_secs(grace))?;
            Ok(Reply::shown(show::gc(&report, grace)))
        }),
        Command::Call {
            id,
            arg,
            fuel,
            memory,
            timeout,
        } => call(&home, &id, arg.as_deref(), fuel, memory, timeout),
    };
    finish(done, json)
}

/// Prints a reply or a failure, as text or JSON, and gives the exit code.
fn finish(done: Done, json: bool) -> ExitCode {
    let (stdout, stderr, doc, code) = match done {
        Ok(r) => (r.stdout, r.stderr, r.json, r.code),
        Err(Failure::Rendered { text, json, code }) => (Vec::new(), text, json, code),
        Err(Failure::Kernel(e)) => {
            let code = if e.is_blocked() { BLOCKED } else { ERROR };
            let text = match &e {
                KernelError::Source(s) => render(&s.diagnostic, Some((&s.file, &s.text))),
                other => format!("error: {other}\n"),
            };
            let doc = match &e {
                KernelError::Source(s) => {
                    json!({ "ok": false, "error": json_diagnostic(&s.diagnostic) })
                }
                other => json::error(json::kind_of(other), &other.to_string()),
            };
            (Vec::new(), text, doc, code)
        }
    };
    if json {
        // Guest logs and such still go to stderr; the result is the JSON document.
        if code == OK {
            err(&stderr);
        }
        outln(&doc.to_string());
    } else {
        err(&stderr);
        for l in stdout {
            outln(&l);
        }
    }
    ExitCode::from(code)
}

/// Runs `f` on the existing home at `dir`, read only.
fn reading(dir: &Path, f: impl FnOnce(&Home) -> Done) -> Done {
    let home = records::open(dir)?;
    f(&home)
}

/// Runs `f` on the governed home at `dir` (kernel only: no sandbox).
fn kernel(dir: &Path, f: impl FnOnce(&kiln_kernel::kernel::Kernel) -> Done) -> Done {
    let k = kiln_kernel::open_kernel(dir)?;
    f(&k)
}

/// Evaluates one expression (the expression entry point, §1.6) in a fresh pure environment,
/// under the default limits and a wall-clock limit of `time_limit_ms`.
pub fn eval_expr(src: &str, time_limit_ms: u64) -> Result<rtfs::Value, rtfs::Error> {
    let form = rtfs::reader::read_expr(src, &Default::default())?;
    let program = rtfs::compile::compile_program(&[form], None)?;
    let start = std::time::Instant::now();
    let limit = std::time::Duration::from_millis(time_limit_ms);
    let mut host = rtfs::host::TimeLimit::new(rtfs::NoHost, time_limit_ms, move || {
        start.elapsed() >= limit
    });
    rtfs::Interpreter::default().run(&program, &mut host)
}

fn rtfs_failure(e: &rtfs::Error, source: (&str, &str)) -> Failure {
    let d = Diagnostic::of(e);
    Failure::Rendered {
        text: render(&d, Some(source)),
        json: json!({ "ok": false, "error": json_diagnostic(&d) }),
        code: ERROR,
    }
}

fn eval(expr: &str, time_limit_ms: u64) -> Done {
    match eval_expr(expr, time_limit_ms) {
        Ok(v) => Ok(Reply::line(rtfs::print::print(&v), json::value(&v))),
        Err(e) => Err(rtfs_failure(&e, ("<expr>", expr))),
    }
}

fn read(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| invalid(format!("cannot read {}: {e}", file.display())))
}

fn run_source(
    home: &Path,
    text: String,
    name: String,
    trust: Option<u8>,
    data: Option<&Path>,
) -> Done {
    let span = tracing::info_span!("plan", source = %name);
    let _entered = span.enter();
    let datasets = match data {
        Some(dir) => {
            kiln_kernel::datasets::Datasets::load(dir, kiln_kernel::datasets::MAX_DATASET_BYTES)?
        }
        None => kiln_kernel::datasets::Datasets::none(),
    };
    let rt = kiln_kernel::open(home, trust)?;
    let run = kiln_kernel::run_plan(rt, text.clone(), name.clone(), datasets)?;
    match run.end {
        PlanEnd::Value(bytes) => {
            let v = rtfs::encoding::decode(&bytes, Default::default())
                .map_err(|e| invalid(e.to_string()))?;
            let mut doc = json::ok(json::value(&v));
            doc["plan"] = json!(run.id);
            Ok(Reply {
                stdout: vec![rtfs::print::print(&v)],
                stderr: String::new(),
                json: doc,
                code: OK,
            })
        }
        PlanEnd::Error {
            diagnostic,
            blocked,
            approval,
        } => {
            let rendered = render(&diagnostic, Some((&name, &text)));
            if let Some(n) = approval {
                return Ok(Reply {
                    stdout: vec![format!("{{:status :pending-approval :approval {n}}}")],
                    stderr: rendered,
                    json: json!({"ok": false, "plan": run.id, "status": "pending-approval", "approval": n}),
                    code: BLOCKED,
                });
            }
            Err(Failure::Rendered {
                text: rendered,
                json: json!({"ok": false, "plan": run.id, "error": json_diagnostic(&diagnostic)}),
                code: if blocked { BLOCKED } else { ERROR },
            })
        }
    }
}

/// Guest text made safe for a terminal: control characters (escape sequences included)
/// are shown escaped instead of being interpreted.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn call(
    home: &Path,
    id: &str,
    arg: Option<&str>,
    fuel: Option<u64>,
    memory: Option<u64>,
    timeout: Option<u64>,
) -> Done {
    let value = match arg.map(|a| rtfs::reader::read_expr(a, &Default::default())) {
        None => rtfs::Value::Nil,
        Some(Ok(f)) => f.to_value(),
        Some(Err(e)) => return Err(rtfs_failure(&e, ("<arg>", arg.unwrap_or_default()))),
    };
    let rt = kiln_kernel::open(home, None)?;
    let limits = kiln_kernel::call::limits(fuel, memory, timeout);
    let c = kiln_kernel::call(rt, id, &value, limits)?;
    let logs: String = c
        .logs
        .iter()
        .map(|l| format!("log[{}] {}\n", l.level, printable(&l.text)))
        .collect();
    Ok(Reply {
        stdout: vec![rtfs::print::print(&c.value)],
        stderr: logs,
        json: json::ok(json::value(&c.value)),
        code: OK,
    })
}

fn cap(action: CapAction, dir: &Path) -> Done {
    match action {
        CapAction::Install { file, id, manifest } => {
            let rt = kiln_kernel::open(dir, None)?;
            let h = kiln_kernel::install::install(&rt, &file, &id, manifest.as_deref())?;
            Ok(Reply::line(
                h.to_string(),
                json!({ "id": id, "version": h.hex() }),
            ))
        }
        CapAction::List => reading(dir, |h| Ok(Reply::shown(show::list(&records::list(h)?)))),
        CapAction::Show { id } => reading(dir, |h| {
            Ok(Reply::shown(show::version(&records::show(h, &id)?)))
        }),
        CapAction::History { id } => reading(dir, |h| {
            Ok(Reply::shown(show::history(&records::history(h, &id)?)))
        }),
        CapAction::Diff { id, a, b } => reading(dir, |h| {
            let d = records::diff(h, &id, a.as_deref(), b.as_deref())?;
            Ok(Reply::shown(show::diff(&id, &d)))
        }),
        CapAction::Rollback { id, to } => kernel(dir, |k| {
            Ok(Reply::shown(
                match k.rollback_as_human(&id, to.as_deref())? {
                    kiln_kernel::kernel::Rollback::Moved(m) => show::moved(&id, &m),
                    kiln_kernel::kernel::Rollback::Deactivated(d) => show::deactivated(&d),
                },
            ))
        }),
    }
}

fn constitution(action: ConstitutionAction, dir: &Path) -> Done {
    match action {
        ConstitutionAction::Show => reading(dir, |h| {
            let p = records::policy(h)?;
            let mut lines = vec![
                format!(";; from: {}", p.constitution_origin),
                format!(";; hash: {}", p.constitution_hash),
                format!(
                    ";; trust level: {} (constitution {}, agent_config.toml {})",
                    p.trust, p.constitution.trust_level, p.config.self_programming.trust_level
                ),
            ];
            lines.push(p.constitution_source.trim_end_matches('\n').to_string());
            Ok(Reply::shown((
                lines,
                json!({
                    "origin": p.constitution_origin,
                    "hash": p.constitution_hash.hex(),
                    "trust_level": p.trust,
                    "constitution_trust_level": p.constitution.trust_level,
                    "config_trust_level": p.config.self_programming.trust_level,
                    "source": p.constitution_source,
                }),
            )))
        }),
        ConstitutionAction::Propose { file } => {
            let text = read(&file)?;
            kernel(dir, |k| {
                let (hash, n) =
                    k.propose_constitution_as_human(&text, &file.display().to_string())?;
                Ok(Reply::line(
                    format!(
                        "constitution {} proposed as approval request {n}; `kiln approvals approve {n}` makes it active",
                        &hash.hex()[..12]
                    ),
                    json!({ "hash": hash.hex(), "approval": n }),
                ))
            })
        }
    }
}

fn plans(action: PlansAction, dir: &Path) -> Done {
    match action {
        PlansAction::List => reading(dir, |h| Ok(Reply::shown(show::plans(&records::plans(h)?)))),
        PlansAction::Show { run } => reading(dir, |h| {
            Ok(Reply::shown(show::plan(&records::plan(h, run)?)))
        }),
        PlansAction::Undo { run } => kernel(dir, |k| {
            let mut lines = k.undo_plan_as_human(run)?;
            if lines.is_empty() {
                lines.push(format!(
                    "run {run} moved no active version: nothing to undo"
                ));
            }
            let value = json!({ "run": run, "moves": lines });
            Ok(Reply::shown((lines, value)))
        }),
    }
}

fn approvals(action: ApprovalAction, dir: &Path) -> Done {
    match action {
        ApprovalAction::List { all } => reading(dir, |h| {
            Ok(Reply::shown(show::approvals(
                &records::approvals(h, !all)?,
                all,
            )))
        }),
        ApprovalAction::Show { n } => reading(dir, |h| {
            Ok(Reply::shown(show::approval_view(&records::approval(h, n)?)))
        }),
        ApprovalAction::Approve { n } => kernel(dir, |k| {
            let said = k.decide_approval_as_human(n, true, None)?;
            Ok(Reply::line(
                said.clone(),
                json!({ "approval": n, "approved": true, "message": said }),
            ))
        }),
        ApprovalAction::Reject { n, reason } => kernel(dir, |k| {
            let said = k.decide_approval_as_human(n, false, reason.as_deref())?;
            Ok(Reply::line(
                said.clone(),
                json!({ "approval": n, "approved": false, "message": said }),
            ))
        }),
    }
}

/// `kiln chain …` (`show --json` and `export` print JSON Lines as they go).
fn chain(action: ChainAction, dir: &Path, json: bool) -> ExitCode {
    let done = match action {
        // Needs no home: anyone holding a proof and a head can check it.
        ChainAction::CheckProof { file, head } => read(&file).and_then(|text| {
            let what = kiln_kernel::proof::check_proof(&text, head.as_deref())?;
            Ok(Reply::line(
                format!("ok: {what}"),
                json!({ "proves": what }),
            ))
        }),
        ChainAction::Show { plan, kind } => reading(dir, |h| {
            let filter = kiln_store::chain::Filter {
                plan,
                kind,
                ..Default::default()
            };
            let lines = records::entries(h, &filter)?
                .iter()
                .map(|e| {
                    if json {
                        show::entry_json(e).to_string()
                    } else {
                        show::entry_line(e)
                    }
                })
                .collect();
            Ok(Reply {
                stdout: lines,
                stderr: String::new(),
                json: Json::Null,
                code: OK,
            })
        }),
        ChainAction::Export => reading(dir, |h| {
            export(h).map_err(invalid)?;
            Ok(Reply {
                stdout: Vec::new(),
                stderr: String::new(),
                json: Json::Null,
                code: OK,
            })
        }),
        ChainAction::Verify { head } => reading(dir, |h| {
            let current = records::chain_verify(h, head.as_deref())?;
            Ok(Reply::line(
                format!("ok: {} entries, head {current}", current.size),
                json!({ "entries": current.size, "head": current.to_string() }),
            ))
        }),
        ChainAction::Head => reading(dir, |h| {
            let head = h.head()?;
            Ok(Reply::line(
                head.to_string(),
                json!({ "head": head.to_string() }),
            ))
        }),
        ChainAction::Prove { seq, since } => reading(dir, |h| {
            let proof = match (seq, since) {
                (_, Some(since)) => kiln_kernel::proof::prove_consistency(h, &since)?,
                (Some(seq), None) => kiln_kernel::proof::prove_inclusion(h, seq)?,
                (None, None) => return Err(invalid("give an entry number or --since HEAD".into())),
            };
            let value: Json = serde_json::from_str(&proof).unwrap_or(Json::Null);
            Ok(Reply::line(proof, value))
        }),
    };
    // JSON Lines are the JSON form of an entry listing.
    let lines_only = matches!(&done, Ok(r) if r.json.is_null());
    if lines_only && let Ok(r) = done {
        for l in r.stdout {
            outln(&l);
        }
        return ExitCode::from(OK);
    }
    finish(done, json)
}

/// `kiln chain export`: every entry as a JSON line (with its hash), oldest first.
fn export(home: &Home) -> Result<u64, String> {
    use std::io::Write;
    let mut w = crate::output::stdout_buffered();
    let mut n = 0;
    let mut after = 0;
    loop {
        let batch = home
            .entries(&kiln_store::chain::Filter {
                after: Some(after),
                limit: Some(10_000),
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in &batch {
            crate::output::check(writeln!(w, "{}", show::entry_json(e)))?;
            n += 1;
        }
    }
    crate::output::check(w.flush())?;
    Ok(n)
}
