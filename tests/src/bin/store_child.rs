//! A store client for the crash and concurrency tests: `store-child HOME ID COUNT` registers,
//! activates, rolls back and appends entries on HOME in a loop (COUNT operations, or until
//! killed when COUNT is 0). It prints `ready` once the home is open, and after each commit
//! one line naming what is now durable:
//!
//! - `reg VERSION ENTRY` — a version registered and activated (its register entry);
//! - `rb VERSION ENTRY` — a rollback to VERSION (its entry);
//! - `tick ENTRY` — a plain chain entry.
//!
//! It also says when it is inside a write transaction, before the commit, so that a test
//! that kills it can tell where the kill landed:
//!
//! - `tx reg MODULE` — inside a register's transaction (printed by the object store when the
//!   registry checks, under the write lock, that the module is present);
//! - `tx tick I` — inside a tick's transaction, before its entry (whose subject is `{:i I}`)
//!   is appended.

#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kiln_store::objects::Listing;
use kiln_store::{
    Activate, Caller, FsObjects, Hash, Home, ObjectStore, Record, Register, Registry,
    SqliteRegistry, StoreError, chain,
};
use rtfs::Value;

/// The home's objects, saying `tx reg MODULE` the first time the registry asks, inside its
/// write transaction, whether the armed module is present.
struct Announcing {
    objects: Arc<FsObjects>,
    armed: AtomicBool,
    module: std::sync::Mutex<Option<Hash>>,
}

impl ObjectStore for Announcing {
    fn put(&self, bytes: &[u8]) -> kiln_store::Result<Hash> {
        self.objects.put(bytes)
    }
    fn get(&self, hash: &Hash) -> kiln_store::Result<Vec<u8>> {
        self.objects.get(hash)
    }
    fn has(&self, hash: &Hash) -> bool {
        let module = *self.module.lock().unwrap_or_else(|e| e.into_inner());
        if Some(*hash) == module && self.armed.swap(false, Ordering::SeqCst) {
            say(&format!("tx reg {hash}"));
        }
        self.objects.has(hash)
    }
    fn list(&self) -> kiln_store::Result<Listing> {
        self.objects.list()
    }
    fn remove(&self, hash: &Hash) -> kiln_store::Result<u64> {
        self.objects.remove(hash)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: store-child HOME ID COUNT");
        std::process::exit(2);
    }
    let (home, id) = (&args[1], &args[2]);
    let count: u64 = args[3].parse().unwrap_or(0);
    let (home, auth) = match Home::open_governed(std::path::Path::new(home)) {
        Ok(h) => h,
        Err(e) => fail(&e),
    };
    // The home's registry, over objects that announce the register's transaction.
    let announcing = Arc::new(Announcing {
        objects: home.objects.clone(),
        armed: AtomicBool::new(false),
        module: std::sync::Mutex::new(None),
    });
    let registry = SqliteRegistry::new(home.db.clone(), announcing.clone());
    let caller = Caller::human();
    say("ready");
    let mut i: u64 = 0;
    while count == 0 || i < count {
        i += 1;
        let line = match i % 4 {
            0 => {
                let r = registry.rollback(&auth.authorize(caller.clone(), Activate), id, None);
                match r {
                    Ok(m) => format!("rb {} {}", m.to, m.entry),
                    // Nothing to roll back to yet (the last move was a rollback to the first
                    // activation); any other failure is a failure.
                    Err(StoreError::NotFound(m)) if m.contains("no earlier active version") => {
                        continue;
                    }
                    Err(err) => fail(&err),
                }
            }
            2 => {
                let subject = Value::map(vec![(Value::keyword("i"), Value::Int(i as i64))]);
                let e = home.db.write(caller.deadline, |tx| {
                    say(&format!("tx tick {i}"));
                    chain::append_one(tx, &caller.context, Record::ok("test.tick", subject))
                });
                match e {
                    Ok(e) => format!("tick {}", e.seq),
                    Err(err) => fail(&err),
                }
            }
            _ => {
                let module = format!("module {id} {} {i}", std::process::id());
                let m = match home.objects.put(module.as_bytes()) {
                    Ok(m) => m,
                    Err(err) => fail(&err),
                };
                *announcing.module.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
                announcing.armed.store(true, Ordering::SeqCst);
                let manifest = Value::map(vec![
                    (Value::keyword("id"), Value::str(id)),
                    (Value::keyword("kind"), Value::keyword("wasm")),
                    (Value::keyword("module"), Value::str(&m.hex())),
                ]);
                match registry.register(&auth.authorize(caller.clone(), Register), &manifest, true)
                {
                    Ok(r) => format!("reg {} {}", r.hash, r.entry),
                    Err(err) => fail(&err),
                }
            }
        };
        say(&line);
    }
}

/// Prints one line and flushes it (the parent reads lines as they come).
fn say(line: &str) {
    let out = std::io::stdout();
    let mut lock = out.lock();
    if writeln!(lock, "{line}").and_then(|_| lock.flush()).is_err() {
        std::process::exit(1);
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("store-child: {e}");
    std::process::exit(1)
}
