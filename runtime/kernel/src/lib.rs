//! kiln — the governance kernel and CLI. For now only reading and printing RTFS data.

/// Reads one RTFS expression and returns its printed form as data (no evaluation yet).
pub fn read_and_print(src: &str) -> Result<String, rtfs::Error> {
    let form = rtfs::reader::read_expr(src, &Default::default())?;
    Ok(rtfs::print::print(&form.to_value()))
}
