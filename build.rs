//! Embeds the text sources of the man pages and of `--help`'s long text (`docs/commands/*.md`
//! and `docs/config/*.md`) as tables of `(page name, text)`, so that adding a page is adding
//! one file; `src/cli/docs.rs` reads the tables.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut out = String::new();
    for (dir, table) in [
        ("docs/commands", "COMMANDS"),
        ("docs/config", "CONFIG_FILES"),
    ] {
        // A directory makes cargo rerun this when any file in it changes or is added.
        println!("cargo:rerun-if-changed={dir}");
        let path = Path::new(&manifest).join(dir);
        let mut pages: Vec<(String, String)> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .flatten()
            .filter_map(|entry| {
                let file = entry.path();
                let name = file.file_name()?.to_str()?.strip_suffix(".md")?.to_owned();
                Some((name, file.to_str()?.to_owned()))
            })
            .collect();
        pages.sort();
        let _ = writeln!(out, "pub static {table}: &[(&str, &str)] = &[");
        for (name, file) in pages {
            let _ = writeln!(out, "    ({name:?}, include_str!({file:?})),");
        }
        let _ = writeln!(out, "];");
    }
    let target = Path::new(&out_dir).join("docs.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
}
