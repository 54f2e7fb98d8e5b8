//! Searching registries as Podman's libimage does: `/v1/search` where the registry has it,
//! else the `/v2/_catalog` repositories whose name contains the term; or, with `--list-tags`,
//! a repository's tags.

use crate::registry::client::{Client, RegistryError, SearchResult};

/// Podman's default number of results per registry.
pub const DEFAULT_LIMIT: usize = 25;

/// Splits a search term as libimage does: everything before the first `/` is the registry
/// (the term may hold wildcards, so it is not parsed as a reference); `None` when there is no
/// `/`, meaning every unqualified-search registry.
pub fn split_term(term: &str) -> (Option<&str>, &str) {
    match term.split_once('/') {
        Some((registry, rest)) => (Some(registry), rest),
        None => (None, term),
    }
}

/// Up to `limit` repositories of `client`'s registry matching `term`.
pub fn search(
    client: &Client,
    term: &str,
    limit: usize,
) -> Result<Vec<SearchResult>, RegistryError> {
    if !term.is_empty()
        && let Some(found) = client.search_v1(term, limit)?
    {
        return Ok(found.into_iter().take(limit).collect());
    }
    Ok(client
        .catalog()?
        .into_iter()
        .filter(|repo| repo.contains(term))
        .take(limit)
        .map(|name| SearchResult {
            name,
            description: String::new(),
            stars: 0,
            official: false,
            automated: false,
        })
        .collect())
}

/// `--filter` of `search`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    pub min_stars: u64,
    pub automated: Option<bool>,
    pub official: Option<bool>,
}

impl SearchFilter {
    /// Parses `stars=N`, `is-automated=BOOL` and `is-official=BOOL` (Podman's messages).
    pub fn parse(filters: &[String]) -> Result<SearchFilter, String> {
        let mut f = SearchFilter::default();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                return Err(format!("invalid filter syntax {filter:?}"));
            };
            let boolean = || match value {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("non-boolean value {value:?} for {key} filter")),
            };
            match key {
                "stars" => {
                    f.min_stars = value
                        .parse()
                        .map_err(|_| format!("non-integer value {value:?} for stars filter"))?
                }
                "is-automated" => f.automated = Some(boolean()?),
                "is-official" => f.official = Some(boolean()?),
                _ => return Err(format!("invalid filter type {key:?}")),
            }
        }
        Ok(f)
    }

    pub fn matches(&self, r: &SearchResult) -> bool {
        r.stars >= self.min_stars
            && self.automated.is_none_or(|a| a == r.automated)
            && self.official.is_none_or(|o| o == r.official)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_terms_like_libimage() {
        assert_eq!(split_term("busybox"), (None, "busybox"));
        assert_eq!(
            split_term("localhost:5000/team"),
            (Some("localhost:5000"), "team")
        );
        assert_eq!(split_term("quay.io/"), (Some("quay.io"), ""));
        // Everything before the first slash is the registry, even without a dot.
        assert_eq!(split_term("team/app"), (Some("team"), "app"));
    }

    #[test]
    fn parses_and_applies_filters() {
        let f = SearchFilter::parse(&["stars=3".into(), "is-official=true".into()]).unwrap();
        let mut r = SearchResult {
            name: "x".into(),
            description: String::new(),
            stars: 3,
            official: true,
            automated: false,
        };
        assert!(f.matches(&r));
        r.stars = 2;
        assert!(!f.matches(&r));
        assert!(SearchFilter::parse(&["stars=x".into()]).is_err());
        assert!(SearchFilter::parse(&["color=red".into()]).is_err());
        assert!(SearchFilter::parse(&["is-automated=yes".into()]).is_err());
    }
}
