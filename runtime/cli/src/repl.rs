//! The REPL: reads forms (continuing lines while brackets are open), evaluates each input as a
//! program in one environment, prints values or errors.

use std::path::PathBuf;

use crate::output::outln;
use crate::report::render_error;

pub fn repl(home: Option<PathBuf>) -> Result<(), String> {
    let mut rl = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    let history = home
        .unwrap_or_else(|| PathBuf::from(".kiln"))
        .join("repl_history");
    let persist = history.parent().is_some_and(|p| p.is_dir());
    if persist {
        let _ = rl.load_history(&history);
    }
    outln("kiln repl — RTFS in the pure environment. Ctrl-D to leave.");
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
            Ok(v) => outln(&rtfs::print::print(v)),
            Err(e) => crate::output::err(&render_error(e, Some(("<repl>", &buffer)))),
        }
        buffer.clear();
    }
    if persist {
        let _ = rl.save_history(&history);
    }
    Ok(())
}
fn incomplete(e: &rtfs::Error) -> bool {
    e.kind() == "error/parse" && e.message().starts_with("unexpected end of input")
}
