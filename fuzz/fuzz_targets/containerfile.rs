//! Arbitrary bytes into the Containerfile parser and the word expander: any input gives a
//! result or an error, never a panic, a hang or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The parser's modules, compiled from coracle's tree at the paths the crate has them, so
/// that `crate::build::...` resolves the same here. They use nothing else of coracle.
#[allow(dead_code, unreachable_pub)]
mod build {
    #[path = "../../../src/build/expand/mod.rs"]
    pub mod expand;
    #[path = "../../../src/build/parse/mod.rs"]
    pub mod parse;
    #[path = "../../../src/build/syntax.rs"]
    pub mod syntax;
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
