//! The command line's grammar (ARCHITECTURE.md §CLI contract), as clap derives it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `kiln eval`'s default wall-clock limit: 10 s. The default step limit (10^8) ends most
/// runaway programs sooner; this one bounds whatever a step does not measure.
pub const EVAL_TIME_MS: u64 = 10_000;

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
    #[command(allow_negative_numbers = true)]
    Eval {
        /// The expression.
        expr: String,
        /// Wall-clock limit in milliseconds: past it the evaluation ends in `:error/limit`
        /// `:time` (the step, depth and memory limits apply as well).
        #[arg(long, default_value_t = EVAL_TIME_MS)]
        time_limit_ms: u64,
    },
    /// Run an RTFS plan under governance: its calls reach the home's capabilities.
    Run {
        /// The program.
        file: PathBuf,
        /// Run at a lower trust level than the constitution's (never higher).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
        trust: Option<u8>,
        /// Hand the run the JSON datasets of DIR, read-only (`planner.dataset`,
        /// `planner.decompose` reach them by name).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Answer a plain-English goal about datasets: the seed's meta-plan with TEXT as its goal
    /// (decompose, resolve, synthesize what is missing, generate, validate, execute).
    Goal {
        /// The goal, e.g. "count books by genre".
        text: String,
        /// The JSON datasets the goal is about.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Run at a lower trust level than the constitution's (never higher).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
        trust: Option<u8>,
    },
    /// Find a program by example (the offline synthesizer alone, no home): SPEC is an RTFS
    /// map `{:params [[name schema] …] :examples [{:args [...] :out v} …]}`, with optional
    /// `:description` and `:output-schema`.
    Synth {
        /// The spec file.
        spec: PathBuf,
        /// Nodes the search may explore (default: the constitution's default
        /// `:synthesis-nodes`).
        #[arg(long)]
        nodes: Option<u64>,
        /// Evaluation steps per candidate run on one example (default `:synthesis-steps`).
        #[arg(long)]
        steps: Option<u64>,
        /// Register the program found as this id (under `generated/`) on the home, through
        /// `planner.synthesize_capability`, governed like an agent's (the constitution's
        /// budget then applies, not --nodes/--steps).
        #[arg(long, value_name = "ID", conflicts_with_all = ["nodes", "steps"])]
        register: Option<String>,
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
    #[command(allow_negative_numbers = true)]
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
