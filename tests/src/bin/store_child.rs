//! A store client for the crash and concurrency tests: `store-child HOME ID COUNT` registers,
//! activates, rolls back and appends entries on HOME in a loop (COUNT operations, or until
//! killed when COUNT is 0). After each commit it prints one line naming what is now durable:
//!
//! - `reg VERSION ENTRY` — a version registered and activated (its register entry);
//! - `rb VERSION ENTRY` — a rollback to VERSION (its entry);
//! - `tick ENTRY` — a plain chain entry.

#![forbid(unsafe_code)]

use std::io::Write;

use kiln_store::{Activate, Append, Caller, Home, ObjectStore, Record, Register, Registry};
use rtfs::Value;

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
        Err(e) => {
            eprintln!("store-child: {e}");
            std::process::exit(1);
        }
    };
    let caller = Caller::human();
    let out = std::io::stdout();
    let mut i: u64 = 0;
    while count == 0 || i < count {
        i += 1;
        let line = match i % 4 {
            0 => {
                let r = home
                    .registry
                    .rollback(&auth.authorize(caller.clone(), Activate), id, None);
                match r {
                    Ok(m) => format!("rb {} {}", m.to, m.entry),
                    Err(_) => continue, // nothing to roll back to yet
                }
            }
            2 => {
                let e = home.append(
                    &auth.authorize(caller.clone(), Append),
                    vec![Record::ok(
                        "test.tick",
                        Value::map(vec![(Value::keyword("i"), Value::Int(i as i64))]),
                    )],
                );
                match e {
                    Ok(e) => format!("tick {}", e[0].seq),
                    Err(err) => fail(&err),
                }
            }
            _ => {
                let module = format!("module {id} {} {i}", std::process::id());
                let m = match home.objects.put(module.as_bytes()) {
                    Ok(m) => m,
                    Err(err) => fail(&err),
                };
                let manifest = Value::map(vec![
                    (Value::keyword("id"), Value::str(id)),
                    (Value::keyword("kind"), Value::keyword("wasm")),
                    (Value::keyword("module"), Value::str(&m.hex())),
                ]);
                match home.registry.register(
                    &auth.authorize(caller.clone(), Register),
                    &manifest,
                    true,
                ) {
                    Ok(r) => format!("reg {} {}", r.hash, r.entry),
                    Err(err) => fail(&err),
                }
            }
        };
        let mut lock = out.lock();
        if writeln!(lock, "{line}").and_then(|_| lock.flush()).is_err() {
            std::process::exit(1);
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("store-child: {e}");
    std::process::exit(1)
}
