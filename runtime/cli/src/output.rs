//! Writing to stdout and stderr. A closed pipe (`kiln chain show | head -3`) ends the
//! command quietly, as cargo and ripgrep do, instead of a panic.

use std::io::Write;

/// Exit code for a successful command.
pub const OK: u8 = 0;
/// Exit code for an error.
pub const ERROR: u8 = 1;
/// Exit code for a refusal or a wait for approval.
pub const BLOCKED: u8 = 3;

fn write(mut w: impl Write, text: &str) {
    let done = w.write_all(text.as_bytes()).and_then(|()| w.flush());
    if let Err(e) = done {
        // Whoever reads has stopped reading: nothing more to say, and nothing went wrong here.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(i32::from(OK));
        }
    }
}

/// Writes `text` to stdout.
pub fn out(text: &str) {
    write(std::io::stdout().lock(), text);
}

/// Writes `text` and a newline to stdout.
pub fn outln(text: &str) {
    out(&format!("{text}\n"));
}

/// Writes `text` to stderr.
pub fn err(text: &str) {
    write(std::io::stderr().lock(), text);
}

/// Writes `text` and a newline to stderr.
pub fn errln(text: &str) {
    err(&format!("{text}\n"));
}

/// A stdout writer for long outputs (`kiln chain export`), buffered.
pub fn stdout_buffered() -> impl Write {
    std::io::BufWriter::new(std::io::stdout().lock())
}

/// Ends the command on a write error of a long output (a closed pipe quietly).
pub fn check(r: std::io::Result<()>) -> Result<(), String> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(i32::from(OK)),
        Err(e) => Err(format!("writing the output: {e}")),
    }
}
