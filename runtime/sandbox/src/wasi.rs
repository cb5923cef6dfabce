//! WASI preview 1 for capabilities granted it: a context per call that starts from "deny
//! everything" (no sockets, no name lookup, stdin closed) and adds only the granted
//! directories and environment variables; stdout and stderr are bounded pipes forwarded to
//! the call's log. In validation mode clocks and randomness are fixed.

use std::time::Duration;

use wasmtime::Linker;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::abi::bounded;
use crate::error::{Result, SandboxError};
use crate::exec::{CallState, LogLine, MAX_LOG_LINE};
use crate::grants::Grants;
use crate::opened::OpenedDir;

type Pipe = wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// Bytes kept of each of stdout and stderr.
const PIPE_CAPACITY: usize = 64 << 10;
/// Lines forwarded to the log from each of stdout and stderr.
const MAX_PIPE_LINES: usize = 1000;

/// Adds WASI preview 1 to the linker. A call whose module does not use WASI gets a context
/// that denies everything, should it ever reach one of these functions.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |s: &mut CallState| {
        s.wasi.get_or_insert_with(|| deny_all_wasi().build_p1())
    })
    .map_err(|e| SandboxError::Internal(e.to_string()))
}

/// What a WASI guest wrote to stdout and stderr during one call.
pub(crate) struct GuestOutput {
    stdout: Pipe,
    stderr: Pipe,
}

impl GuestOutput {
    /// The output as log lines: stdout at info, stderr at warn, each line bounded.
    pub(crate) fn log_lines(&self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for (pipe, level) in [(&self.stdout, 2u8), (&self.stderr, 1u8)] {
            let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
            for line in text.lines().take(MAX_PIPE_LINES) {
                lines.push(LogLine {
                    level,
                    text: bounded(line, MAX_LOG_LINE),
                });
            }
        }
        lines
    }
}

/// The WASI context of one call: no sockets, stdin closed, bounded stdout/stderr, the granted
/// directories and environment variables only.
pub(crate) fn wasi_for(
    grants: &Grants,
    dirs: &[OpenedDir],
    deterministic: bool,
) -> Result<(WasiP1Ctx, GuestOutput)> {
    let mut b = deny_all_wasi();
    let (out, err) = (Pipe::new(PIPE_CAPACITY), Pipe::new(PIPE_CAPACITY));
    b.stdout(out.clone()).stderr(err.clone());
    for d in dirs {
        let perms = if d.write {
            wasmtime_wasi::FsPerms::ReadWrite
        } else {
            wasmtime_wasi::FsPerms::ReadOnly
        };
        // The handle opened at load, never the path again.
        b.preopened_dir(d.preopen_path(), &d.guest, perms)
            .map_err(|e| SandboxError::Internal(format!("preopening {}: {e}", d.host.display())))?;
    }
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    if deterministic {
        b.wall_clock(FixedClock).monotonic_clock(FixedClock);
        b.secure_random(wasmtime_wasi::Deterministic::new(vec![42; 32]));
        b.insecure_random(wasmtime_wasi::Deterministic::new(vec![7; 32]));
        b.insecure_random_seed(0);
    }
    Ok((
        b.build_p1(),
        GuestOutput {
            stdout: out,
            stderr: err,
        },
    ))
}

/// Validation-mode clock: always 2000-01-01T00:00:00Z (wall) and 0 (monotonic).
struct FixedClock;

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(946_684_800)
    }
}

impl wasmtime_wasi::HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A WASI context builder with the network off; stdin is closed by default.
fn deny_all_wasi() -> wasmtime_wasi::WasiCtxBuilder {
    let mut b = wasmtime_wasi::WasiCtxBuilder::new();
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b
}
