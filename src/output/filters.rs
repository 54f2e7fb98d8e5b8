//! Podman's rule for repeated `--filter`s of a list (`ps`, `pod ps`): the values of one key
//! are alternatives, different keys must all hold.

/// Whether an item passes `filters`, `passes` telling whether it passes one filter.
pub fn pass_all<F>(filters: &[F], key: impl Fn(&F) -> &str, passes: impl Fn(&F) -> bool) -> bool {
    filters
        .iter()
        .all(|f| filters.iter().filter(|g| key(g) == key(f)).any(&passes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_keys_values_are_alternatives_and_keys_all_hold() {
        let item = ("web", "running");
        let check = |fs: &[(&str, &str)]| {
            pass_all(
                fs,
                |f| f.0,
                |f| match f.0 {
                    "name" => f.1 == item.0,
                    _ => f.1 == item.1,
                },
            )
        };
        assert!(check(&[]));
        assert!(check(&[
            ("name", "db"),
            ("status", "running"),
            ("name", "web")
        ]));
        assert!(!check(&[("name", "db"), ("status", "running")]));
        assert!(!check(&[("name", "web"), ("status", "exited")]));
    }
}
