//! Image references (to be written).
// Provisional until the reference module lands.
pub fn name_matches(input: &str, stored: &str) -> bool {
    let with_tag = if input.rsplit('/').next().is_some_and(|l| l.contains(':')) { input.to_string() } else { format!("{input}:latest") };
    stored == with_tag || stored.ends_with(&format!("/{with_tag}"))
}
pub fn repository_matches(input: &str, stored: &str) -> bool {
    let repo = stored.rsplit_once(':').map(|(r, _)| r).unwrap_or(stored);
    repo == input || repo.ends_with(&format!("/{input}"))
}
