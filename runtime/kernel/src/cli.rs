//! The command line (ARCHITECTURE.md §CLI contract). Exit codes: 0 success, 1 error,
//! 2 usage, 3 denied or waiting for approval.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::report::{json_result, render_error};

/// kiln — a runtime in which AI agents extend their own capabilities safely.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    /// The kiln home (default `./.kiln`, or `KILN_HOME`).
    #[arg(long, global = true, env = "KILN_HOME")]
    pub home: Option<PathBuf>,
    /// Print results as JSON (for machines).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one RTFS expression in the pure environment and print its value.
    Eval {
        /// The expression.
        expr: String,
    },
    /// Run an RTFS plan under governance: its calls reach the home's capabilities.
    Run {
        /// The program.
        file: PathBuf,
        /// Run at a lower trust level than the constitution's (never higher).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
        trust: Option<u8>,
    },
    /// An interactive RTFS session: multi-line forms, history, definitions persist.
    Repl,
    /// Capabilities: install, list.
    Cap {
        /// What to do.
        #[command(subcommand)]
        action: CapAction,
    },
    /// The causal chain: show, verify, export, head, prove, check-proof.
    Chain {
        /// What to do.
        #[command(subcommand)]
        action: ChainAction,
    },
    /// The constitution: show the active one, propose a new one.
    Constitution {
        /// What to do.
        #[command(subcommand)]
        action: ConstitutionAction,
    },
    /// Plan history: list, show, undo.
    Plans {
        /// What to do.
        #[command(subcommand)]
        action: PlansAction,
    },
    /// Approval requests: list, show, approve, reject (the human's alone).
    Approvals {
        /// What to do.
        #[command(subcommand)]
        action: ApprovalAction,
    },
    /// Verify the home: every object re-hashed, every manifest's references, the chain.
    Verify {
        /// A tree head saved earlier (`kiln chain head`): the chain must still extend it.
        #[arg(long)]
        head: Option<String>,
    },
    /// Remove objects nothing references (recorded on the chain).
    Gc {
        /// Keep unreferenced objects younger than this many seconds (a write in progress);
        /// never less than the store's busy timeout plus 50 s.
        #[arg(long, default_value_t = 3600)]
        grace: u64,
    },
    /// Call a capability: `kiln call text.words '{:text "a b"}'`.
    Call {
        /// The capability id, or `ID@PREFIX` for a pinned version.
        id: String,
        /// The argument, an RTFS data literal (default nil).
        arg: Option<String>,
        /// Fuel (CPU budget).
        #[arg(long)]
        fuel: Option<u64>,
        /// Memory limit in bytes.
        #[arg(long)]
        memory: Option<u64>,
        /// Wall-clock limit in milliseconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
}

/// `kiln cap …`.
#[derive(Debug, Subcommand)]
pub enum CapAction {
    /// Check, store and activate a WebAssembly capability; prints the version hash.
    Install {
        /// The module.
        file: PathBuf,
        /// The capability id (e.g. `text.words`).
        #[arg(long)]
        id: String,
        /// An RTFS file with a `(capability …)` form: effects, schemas, grants.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// The active capabilities.
    List,
    /// One version: its row and manifest (`ID` for the active one, `ID@PREFIX` for another).
    Show {
        /// The capability id, or `ID@PREFIX`.
        id: String,
    },
    /// Every version of a capability and every move of its active pointer.
    History {
        /// The capability id.
        id: String,
    },
    /// What changed between two versions (default: the active one and the one before it).
    Diff {
        /// The capability id.
        id: String,
        /// The older version (hash or prefix); default the previously active one.
        a: Option<String>,
        /// The newer version; default the active one.
        b: Option<String>,
    },
    /// Make the previously active version active again, or `--to` any version.
    Rollback {
        /// The capability id.
        id: String,
        /// A version hash or unique prefix.
        #[arg(long)]
        to: Option<String>,
    },
}

/// `kiln constitution …`.
#[derive(Debug, Subcommand)]
pub enum ConstitutionAction {
    /// The active constitution, where it came from, and this session's trust level.
    Show,
    /// Validate FILE and file an approval request to make it the constitution.
    Propose {
        /// The new constitution (an RTFS data file).
        file: PathBuf,
    },
}

/// `kiln plans …`.
#[derive(Debug, Subcommand)]
pub enum PlansAction {
    /// Runs, newest first.
    List,
    /// One run: source, outcome, the versions it created or activated.
    Show {
        /// The run id.
        run: i64,
    },
    /// Revert the run's registry moves as new recorded moves.
    Undo {
        /// The run id.
        run: i64,
    },
}

/// `kiln approvals …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalAction {
    /// Requests, newest first (pending ones unless `--all`).
    List {
        /// Include decided ones.
        #[arg(long)]
        all: bool,
    },
    /// One request.
    Show {
        /// Its number.
        n: i64,
    },
    /// Approve: the approved change happens now.
    Approve {
        /// Its number.
        n: i64,
    },
    /// Reject.
    Reject {
        /// Its number.
        n: i64,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `kiln chain …`.
#[derive(Debug, Subcommand)]
pub enum ChainAction {
    /// Entries, oldest first.
    Show {
        /// Only this plan run.
        #[arg(long)]
        plan: Option<i64>,
        /// Only this kind (e.g. `cap.rollback`).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Check every entry; with `--head`, that the chain still extends a saved head.
    Verify {
        /// A head printed earlier by `kiln chain head`.
        #[arg(long)]
        head: Option<String>,
    },
    /// Every entry as JSON Lines.
    Export,
    /// The current tree head (`SIZE:ROOT`): save it elsewhere, check it later.
    Head,
    /// An inclusion proof of entry SEQ, or with `--since HEAD` a consistency proof.
    Prove {
        /// The entry.
        #[arg(required_unless_present = "since")]
        seq: Option<u64>,
        /// A saved head: prove that the current chain extends it.
        #[arg(long, conflicts_with = "seq")]
        since: Option<String>,
    },
    /// Check a proof file (no home needed); `--head` names the head you trust.
    CheckProof {
        /// The proof (JSON, from `kiln chain prove`).
        file: PathBuf,
        /// The trusted head.
        #[arg(long)]
        head: Option<String>,
    },
}

/// Exit code for a successful command.
pub const OK: u8 = 0;
/// Exit code for an error.
pub const ERROR: u8 = 1;

/// Diagnostics go to stderr through `tracing`, filtered by `KILN_LOG` (e.g. `KILN_LOG=debug`,
/// or `KILN_LOG=kiln_sandbox=debug`); warnings only by default. Spans: `plan` per plan run,
/// `call` per capability call, `capability_call` per sandboxed execution (fuel, µs, outcome).
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A malformed KILN_LOG falls back to warnings rather than stopping the command.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Eval { expr } => {
            let result = eval_expr(&expr);
            finish(&result, cli.json, Some(("<expr>", &expr)))
        }
        Command::Run { file, trust } => {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {name}: {e}");
                    return ExitCode::from(ERROR);
                }
            };
            let span = tracing::info_span!("plan", source = %name);
            let _entered = span.enter();
            let rt = match crate::caps::Runtime::open_with_trust(&home_dir(&cli.home), trust) {
                Ok(rt) => std::sync::Arc::new(rt),
                Err(e) => return fail(&e.0),
            };
            match crate::plan::run(rt, text, name) {
                Ok(run) => finish_plan(&run, cli.json),
                Err(e) => fail(&e.0),
            }
        }
        Command::Cap { action } => cap(action, &home_dir(&cli.home)),
        Command::Chain { action } => chain(action, &home_dir(&cli.home), cli.json),
        Command::Constitution { action } => match action {
            ConstitutionAction::Show => with_kernel(&home_dir(&cli.home), |k| {
                println!(";; from: {}", k.constitution_origin);
                println!(";; hash: {}", k.constitution_hash);
                println!(
                    ";; trust level: {} (constitution {}, agent_config.toml {})",
                    k.trust, k.constitution.trust_level, k.config.self_programming.trust_level
                );
                print!("{}", k.constitution_source);
                Ok(OK)
            }),
            ConstitutionAction::Propose { file } => with_kernel(&home_dir(&cli.home), |k| {
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    crate::caps::Failure(format!("cannot read {}: {e}", file.display()))
                })?;
                println!(
                    "{}",
                    k.propose_constitution_as_human(&text, &file.display().to_string())?
                );
                Ok(OK)
            }),
        },
        Command::Plans { action } => match action {
            PlansAction::List => with_home(&home_dir(&cli.home), |h| {
                print_lines(crate::records::plans_list(h)?)
            }),
            PlansAction::Show { run } => with_home(&home_dir(&cli.home), |h| {
                print_lines(crate::records::plans_show(h, run)?)
            }),
            PlansAction::Undo { run } => with_kernel(&home_dir(&cli.home), |k| {
                for l in crate::records::plans_undo(k, run)? {
                    println!("{l}");
                }
                Ok(OK)
            }),
        },
        Command::Approvals { action } => approvals(action, &home_dir(&cli.home)),
        Command::Verify { head } => with_home(&home_dir(&cli.home), |home| {
            let (lines, ok) = crate::records::verify(home, head.as_deref())?;
            for l in lines {
                println!("{l}");
            }
            Ok(if ok { OK } else { ERROR })
        }),
        Command::Gc { grace } => with_kernel(&home_dir(&cli.home), |k| {
            println!(
                "{}",
                crate::records::gc(k, std::time::Duration::from_secs(grace))?
            );
            Ok(OK)
        }),
        Command::Call {
            id,
            arg,
            fuel,
            memory,
            timeout,
        } => {
            let arg = match arg
                .as_deref()
                .map(|a| rtfs::reader::read_expr(a, &Default::default()))
            {
                None => rtfs::Value::Nil,
                Some(Ok(f)) => f.to_value(),
                Some(Err(e)) => {
                    eprint!("{}", render_error(&e, arg.as_deref().map(|a| ("<arg>", a))));
                    return ExitCode::from(ERROR);
                }
            };
            let rt = match crate::caps::Runtime::open(&home_dir(&cli.home)) {
                Ok(rt) => std::sync::Arc::new(rt),
                Err(e) => return fail(&e.0),
            };
            let limits = crate::caps::limits(fuel, memory, timeout);
            match crate::caps::call(rt, &id, &arg, limits) {
                Ok(c) => {
                    for l in &c.logs {
                        eprintln!("log[{}] {}", l.level, printable(&l.text));
                    }
                    if cli.json {
                        println!("{}", json_result(&Ok(c.value)));
                    } else {
                        println!("{}", rtfs::print::print(&c.value));
                    }
                    ExitCode::from(OK)
                }
                Err(e) => governed_failure(e),
            }
        }
        Command::Repl => match crate::cli::repl(cli.home) {
            Ok(()) => ExitCode::from(OK),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(ERROR)
            }
        },
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

fn print_lines(lines: Vec<String>) -> Result<u8, crate::caps::Failure> {
    for l in lines {
        println!("{l}");
    }
    Ok(OK)
}

/// Runs `f` on the home at `dir` (the store only: no sandbox), turning failures into exit 1.
fn with_home(
    dir: &std::path::Path,
    f: impl FnOnce(&kiln_store::Home) -> Result<u8, crate::caps::Failure>,
) -> ExitCode {
    // Reading never creates a home: a mistyped --home is an error, not an empty "ok".
    if !dir.join("kiln.db").is_file() {
        return fail(&format!(
            "there is no kiln home at {} (no kiln.db); check --home or KILN_HOME — a command that changes the home, such as `kiln cap install`, creates one",
            dir.display()
        ));
    }
    let home = match kiln_store::Home::open(dir) {
        Ok(h) => h,
        Err(e) => return fail(&e.to_string()),
    };
    match f(&home) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e.0),
    }
}

/// Exit code for a refusal or a wait for approval.
pub const BLOCKED: u8 = 3;

fn governed_failure(e: crate::kernel::GovError) -> ExitCode {
    use crate::kernel::GovError;
    match e {
        GovError::Blocked(_) => {
            eprintln!("error: {e}");
            ExitCode::from(BLOCKED)
        }
        GovError::Failed(f) => fail(&f.0),
    }
}

/// Runs `f` on the governed home at `dir` (the kernel opens it with its constitution and
/// configuration; refusals exit with 3).
fn with_kernel(
    dir: &std::path::Path,
    f: impl FnOnce(&crate::kernel::Kernel) -> Result<u8, crate::kernel::GovError>,
) -> ExitCode {
    let kernel = match crate::kernel::Kernel::open(dir, None) {
        Ok(k) => k,
        Err(e) => return fail(&e.0),
    };
    match f(&kernel) {
        Ok(code) => ExitCode::from(code),
        Err(e) => governed_failure(e),
    }
}

fn cap(action: CapAction, dir: &std::path::Path) -> ExitCode {
    use crate::records;
    match action {
        CapAction::Install { file, id, manifest } => {
            let rt = match crate::caps::Runtime::open(dir) {
                Ok(rt) => rt,
                Err(e) => return fail(&e.0),
            };
            match crate::caps::install(&rt, &file, &id, manifest.as_deref()) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::from(OK)
                }
                Err(e) => governed_failure(e),
            }
        }
        CapAction::List => {
            let rt = match crate::caps::Runtime::open(dir) {
                Ok(rt) => rt,
                Err(e) => return fail(&e.0),
            };
            match crate::caps::list(&rt) {
                Ok(lines) => {
                    for l in lines {
                        println!("{l}");
                    }
                    ExitCode::from(OK)
                }
                Err(e) => fail(&e.0),
            }
        }
        CapAction::Show { id } => with_home(dir, |h| print_lines(records::show(h, &id)?)),
        CapAction::History { id } => with_home(dir, |h| print_lines(records::history(h, &id)?)),
        CapAction::Diff { id, a, b } => with_home(dir, |h| {
            print_lines(records::diff(h, &id, a.as_deref(), b.as_deref())?)
        }),
        CapAction::Rollback { id, to } => with_kernel(dir, |k| {
            println!("{}", records::rollback(k, &id, to.as_deref())?);
            Ok(OK)
        }),
    }
}

fn approvals(action: ApprovalAction, dir: &std::path::Path) -> ExitCode {
    use kiln_store::approvals;
    match action {
        ApprovalAction::List { all } => with_home(dir, |h| {
            let list = approvals::list(&h.db, !all)?;
            if list.is_empty() {
                println!("no {}approval requests", if all { "" } else { "pending " });
            }
            for a in list {
                println!(
                    "{:>4}  {:<8}  {} {} {}  risk {}  from {}",
                    a.n,
                    format!("{:?}", a.status).to_lowercase(),
                    a.request.action,
                    a.request.subject,
                    &a.request.hash.hex()[..12],
                    a.request.risk,
                    a.request.requester
                );
            }
            Ok(OK)
        }),
        ApprovalAction::Show { n } => with_home(dir, |h| {
            let a = approvals::get(&h.db, n)?
                .ok_or_else(|| crate::caps::Failure(format!("there is no approval request {n}")))?;
            println!("request:   {}", a.n);
            println!("status:    {}", format!("{:?}", a.status).to_lowercase());
            println!("action:    {} {}", a.request.action, a.request.subject);
            println!("approves:  {}", a.request.hash);
            println!("risk:      {}", a.request.risk);
            println!("requester: {}", a.request.requester);
            for r in &a.request.reasons {
                println!("reason:    {r}");
            }
            if let Some(note) = &a.note {
                println!("note:      {note}");
            }
            Ok(OK)
        }),
        ApprovalAction::Approve { n } => with_kernel(dir, |k| {
            println!("{}", k.decide_approval_as_human(n, true, None)?);
            Ok(OK)
        }),
        ApprovalAction::Reject { n, reason } => with_kernel(dir, |k| {
            println!(
                "{}",
                k.decide_approval_as_human(n, false, reason.as_deref())?
            );
            Ok(OK)
        }),
    }
}

fn chain(action: ChainAction, dir: &std::path::Path, json: bool) -> ExitCode {
    use crate::records;
    if let ChainAction::CheckProof { file, head } = &action {
        // Needs no home: anyone holding a proof and a head can check it.
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
        };
        return match records::check_proof(&text, head.as_deref()) {
            Ok(what) => {
                println!("ok: {what}");
                ExitCode::from(OK)
            }
            Err(e) => fail(&e.0),
        };
    }
    with_home(dir, |h| match action {
        ChainAction::Show { plan, kind } => print_lines(records::chain_show(
            h,
            &kiln_store::chain::Filter {
                plan,
                kind,
                ..Default::default()
            },
            json,
        )?),
        ChainAction::Verify { head } => {
            let current = records::chain_verify(h, head.as_deref())?;
            println!("ok: {} entries, head {current}", current.size);
            Ok(OK)
        }
        ChainAction::Export => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            records::chain_export(h, &mut lock)?;
            std::io::Write::flush(&mut lock)
                .map_err(|e| crate::caps::Failure(format!("writing the export: {e}")))?;
            Ok(OK)
        }
        ChainAction::Head => {
            println!("{}", h.head()?);
            Ok(OK)
        }
        ChainAction::Prove { seq, since } => {
            let proof = match (seq, since) {
                (_, Some(since)) => records::prove_consistency(h, &since)?,
                (Some(seq), None) => records::prove_inclusion(h, seq)?,
                (None, None) => {
                    return Err(crate::caps::Failure(
                        "give an entry number or --since HEAD".into(),
                    ));
                }
            };
            println!("{proof}");
            Ok(OK)
        }
        ChainAction::CheckProof { .. } => Err(crate::caps::Failure(
            "check-proof is handled without a home".into(),
        )),
    })
}

fn home_dir(home: &Option<PathBuf>) -> PathBuf {
    home.clone().unwrap_or_else(|| PathBuf::from(".kiln"))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(ERROR)
}

/// Evaluates one expression (the expression entry point, §1.6) in a fresh pure environment.
pub fn eval_expr(src: &str) -> Result<rtfs::Value, rtfs::Error> {
    let form = rtfs::reader::read_expr(src, &Default::default())?;
    let program = rtfs::compile::compile_program(&[form], None)?;
    rtfs::Interpreter::default().run(&program, &mut rtfs::NoHost)
}

fn finish(
    result: &Result<rtfs::Value, rtfs::Error>,
    json: bool,
    source: Option<(&str, &str)>,
) -> ExitCode {
    if json {
        println!("{}", json_result(result));
    } else {
        match result {
            Ok(v) => println!("{}", rtfs::print::print(v)),
            Err(e) => eprint!("{}", render_error(e, source)),
        }
    }
    ExitCode::from(if result.is_ok() { OK } else { ERROR })
}

fn finish_plan(run: &crate::plan::PlanRun, json: bool) -> ExitCode {
    use crate::plan::PlanEnd;
    match &run.end {
        PlanEnd::Value(bytes) => {
            let v = match rtfs::encoding::decode(bytes, Default::default()) {
                Ok(v) => v,
                Err(e) => return fail(&e.to_string()),
            };
            if json {
                println!("{}", json_result(&Ok(v)));
            } else {
                println!("{}", rtfs::print::print(&v));
            }
            ExitCode::from(OK)
        }
        PlanEnd::Error {
            kind,
            rendered,
            blocked,
            approval,
        } => {
            if let Some(n) = approval {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"ok": false, "plan": run.id, "status": "pending-approval", "approval": n})
                    );
                } else {
                    eprint!("{rendered}");
                    println!("{{:status :pending-approval :approval {n}}}");
                }
                return ExitCode::from(BLOCKED);
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "plan": run.id, "error": {"kind": kind, "message": rendered}})
                );
            } else {
                eprint!("{rendered}");
            }
            ExitCode::from(if *blocked { BLOCKED } else { ERROR })
        }
    }
}

fn incomplete(e: &rtfs::Error) -> bool {
    e.kind() == "error/parse" && e.message().starts_with("unexpected end of input")
}

/// The REPL: reads forms (continuing lines while brackets are open), evaluates each input as a
/// program in one environment, prints values or errors.
pub fn repl(home: Option<PathBuf>) -> Result<(), String> {
    let mut rl = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    let history = home
        .unwrap_or_else(|| PathBuf::from(".kiln"))
        .join("repl_history");
    let persist = history.parent().is_some_and(|p| p.is_dir());
    if persist {
        let _ = rl.load_history(&history);
    }
    println!("kiln repl — RTFS in the pure environment. Ctrl-D to leave.");
    let mut it = rtfs::Interpreter::default();
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "rtfs> "
        } else {
            "  ... "
        };
        let line = match rl.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        };
        buffer.push_str(&line);
        buffer.push('\n');
        let program = match it.compile(&buffer, Some("<repl>")) {
            Err(e) if incomplete(&e) => continue,
            other => other,
        };
        let _ = rl.add_history_entry(buffer.trim_end());
        let result = program.and_then(|p| it.run(&p, &mut rtfs::NoHost));
        match &result {
            Ok(v) => println!("{}", rtfs::print::print(v)),
            Err(e) => eprint!("{}", render_error(e, Some(("<repl>", &buffer)))),
        }
        buffer.clear();
    }
    if persist {
        let _ = rl.save_history(&history);
    }
    Ok(())
}
