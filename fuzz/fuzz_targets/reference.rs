//! Arbitrary text into the image reference parser and its normalisations: any input gives a
//! reference or an error, never a panic; and what is accepted is stable: its text parses back
//! to the same reference, and the short (familiar) name a user sees names it again.
#![no_main]

use coracle_fuzz::oci::reference::{self, LookupName, Reference};
use libfuzzer_sys::fuzz_target;

fn stable(r: &Reference, how: fn(&str) -> Result<Reference, reference::ReferenceError>) {
    let text = r.to_string();
    assert_eq!(how(&text).as_ref(), Ok(r), "{text:?} does not parse back");
    assert_eq!(
        reference::normalize_docker(&r.familiar()).as_ref(),
        Ok(r),
        "familiar {:?} of {text:?}",
        r.familiar()
    );
    assert!(
        r.name().len() <= 255 + "docker.io/library/".len(),
        "{text:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the reference; a second, when present, a filter pattern.
    let (input, pattern) = text.split_once('\n').unwrap_or((text, "*"));
    if let Ok(r) = reference::normalize_docker(input) {
        stable(&r, reference::normalize_docker);
        let _ = reference::matches_reference_filter(pattern, &r);
    }
    if let Ok(r) = reference::normalize_local(input) {
        stable(&r, reference::normalize_local);
    }
    let _ = reference::is_short_name(input);
    let registries = ["quay.io".to_string(), "registry.example:5000".to_string()];
    if let Ok(lookup) = LookupName::parse(input, &registries) {
        assert!(
            !lookup.candidates().is_empty(),
            "{input:?} has no candidate"
        );
        for c in lookup.candidates() {
            let _ = lookup.matches_repo_suffix(c);
            stable(c, reference::normalize_docker);
        }
    }
});
