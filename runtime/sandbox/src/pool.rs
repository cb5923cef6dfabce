//! The worker threads calls run on. Each has a stack sized for the nesting limit (every level
//! of `kiln.call` nests wasm and host frames on the same thread), and work reaches them
//! through one channel; a caller waits for the reply spinning briefly, then blocking.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::config::EngineConfig;
use crate::error::{Result, SandboxError};

/// Work for a worker thread.
type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// Set on sandbox worker threads (whose stacks are sized for the nesting limit).
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is a sandbox worker (so a call may run here without a hop).
pub(crate) fn on_worker() -> bool {
    ON_WORKER.with(|w| w.get())
}

/// `concurrency` big-stack worker threads. They end when the pool is dropped.
pub(crate) struct WorkerPool {
    jobs: crossbeam_channel::Sender<Job>,
}

impl WorkerPool {
    /// Starts `config.concurrency` workers, each with a stack for `max_nesting + 1` levels of
    /// wasm and host code (plus 1 MiB for the worker itself).
    pub(crate) fn start(config: &EngineConfig) -> Result<WorkerPool> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let stack = (config.max_nesting as usize + 1)
            * (config.max_wasm_stack + config.host_stack_reserve)
            + (1 << 20);
        for i in 0..config.concurrency {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("kiln-sandbox-{i}"))
                .stack_size(stack)
                .spawn(move || {
                    ON_WORKER.with(|w| w.set(true));
                    // Ends when the pool (the sender) is dropped.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })
                .map_err(|e| SandboxError::Internal(format!("worker thread: {e}")))?;
        }
        Ok(WorkerPool { jobs: tx })
    }

    /// Runs `f` on a worker and waits for its result.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| SandboxError::Internal("sandbox workers stopped".into()))?;
        wait_briefly_spinning(&rx)
    }
}

/// Waits for a worker's reply. A trivial call finishes within a few microseconds, sooner than
/// a parked thread can be woken again, so the caller polls for 10 µs before it blocks. (Not
/// longer: on a small VM a spinning caller measurably slows the worker it waits for — a 50 µs
/// spin made a 40 µs call 25% slower.)
fn wait_briefly_spinning<R>(rx: &mpsc::Receiver<R>) -> Result<R> {
    let died = || SandboxError::Internal("sandbox worker died".into());
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(10) {
        match rx.try_recv() {
            Ok(r) => return Ok(r),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Disconnected) => return Err(died()),
        }
    }
    rx.recv().map_err(|_| died())
}
