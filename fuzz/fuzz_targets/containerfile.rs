//! Arbitrary bytes into the Containerfile parser and the word expander: any input gives a
//! result or an error, never a panic, a hang or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The parser's modules, compiled from coracle's tree; `build` gives them the paths they
// have in coracle (`crate::build::expand`). They use nothing else of coracle.
#[path = "../../src/build/expand/mod.rs"]
mod expand;
#[path = "../../src/build/parse/mod.rs"]
mod parse;
#[path = "../../src/build/syntax.rs"]
mod syntax;
// The parser checks `--chmod` values where they are written.
#[path = "../../src/build/copy/chmod.rs"]
mod chmod;

mod build {
    pub(crate) use super::{expand, parse, syntax};
    pub(crate) mod copy {
        pub(crate) use super::super::chmod;
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = build::parse::parse(text, "Containerfile");
    let lookup = |name: &str| match name {
        "A" => Some("a b".to_string()),
        "E" => Some(String::new()),
        "P" => Some("/usr/local/bin".to_string()),
        _ => None,
    };
    let _ = build::expand::word(text, &lookup);
    let _ = build::expand::words(text, '`', &lookup);
    let _ = build::expand::text(text, '\\', &lookup);
});
