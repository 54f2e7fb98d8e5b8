//! `WWW-Authenticate` challenges (Basic and Bearer), bearer tokens from the realm (anonymous
//! or with credentials, GET with basic auth, else the OAuth2 POST form), cached by scope.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::registry::Credentials;
use crate::registry::client::RegistryError;

/// How a registry wants to be authenticated, from its `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry asked for in this challenge, if it said.
        scope: Option<String>,
        /// `error="insufficient_scope"` and the like.
        error: Option<String>,
    },
}

/// The challenge coracle answers among those of `WWW-Authenticate` values: Bearer over Basic,
/// schemes it does not know ignored.
pub fn pick_challenge<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut basic = false;
    for header in headers {
        for (scheme, params) in parse_challenges(header) {
            if scheme.eq_ignore_ascii_case("bearer") {
                let get = |k: &str| {
                    params
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.clone())
                };
                if let Some(realm) = get("realm") {
                    return Some(Challenge::Bearer {
                        realm,
                        service: get("service"),
                        scope: get("scope"),
                        error: get("error"),
                    });
                }
            } else if scheme.eq_ignore_ascii_case("basic") {
                basic = true;
            }
        }
    }
    basic.then_some(Challenge::Basic)
}

/// RFC 7235 challenges: `scheme param=value, param="quoted, value", scheme2 ...`.
pub fn parse_challenges(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let bytes = header.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize, set: &[u8]| {
        while *i < bytes.len() && set.contains(&bytes[*i]) {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && !b" \t,=\"".contains(&bytes[*i]) {
            *i += 1;
        }
        header[start..*i].to_string()
    };
    while i < bytes.len() {
        skip(&mut i, b" \t,");
        let word = token(&mut i);
        if word.is_empty() {
            // A stray quote or `=`: skip it rather than loop forever.
            i += 1;
            continue;
        }
        skip(&mut i, b" \t");
        if i < bytes.len() && bytes[i] == b'=' {
            // A parameter of the current challenge (token68 values end in `=` too; a
            // challenge that is only a token68 is of no use here).
            i += 1;
            skip(&mut i, b" \t");
            let value = if i < bytes.len() && bytes[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        i += 1;
                    }
                    let ch = header[i..].chars().next().unwrap_or_default();
                    v.push(ch);
                    i += ch.len_utf8().max(1);
                }
                i += 1;
                v
            } else {
                token(&mut i)
            };
            if let Some((_, params)) = out.last_mut() {
                params.push((word, value));
            }
        } else {
            out.push((word, Vec::new()));
        }
    }
    out
}

/// `Authorization: Basic ...` for `credentials`.
pub fn basic_header(credentials: &Credentials) -> String {
    let raw = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Bearer tokens by scope, valid until their expiry.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// A token older than its lifetime minus this is fetched again rather than risk a 401.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The distribution token spec's default lifetime when `expires_in` is absent.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

impl TokenCache {
    pub fn get(&self, key: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    pub fn put(&self, key: &str, token: String, lifetime: Duration) {
        let until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert(key.to_string(), (token, until));
    }

    pub fn forget(&self, key: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.remove(key);
    }
}

/// Fetches a bearer token for `scopes` from `realm`: anonymous GET without credentials; GET
/// with basic auth with them, falling back to the OAuth2 password form when the realm refuses
/// GET (404/405); an identity token (`<token>` user) is exchanged with the refresh-token form.
/// Returns the token and its lifetime.
pub fn fetch_token(
    http: &reqwest::blocking::Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credentials: Option<&Credentials>,
) -> Result<(String, Duration), RegistryError> {
    let mut url = url::Url::parse(realm).map_err(|e| RegistryError::Invalid {
        url: realm.to_string(),
        what: "token realm".into(),
        message: e.to_string(),
    })?;
    let shown = url.to_string();
    let identity_token = credentials.filter(|c| c.username == "<token>");
    let response = if let Some(c) = identity_token {
        post_form(http, &url, service, scopes, "refresh_token", c)?
    } else {
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut req = http.get(url.clone());
        if let Some(c) = credentials {
            req = req.header(reqwest::header::AUTHORIZATION, basic_header(c));
        }
        let resp = req.send().map_err(|e| transport(&shown, e))?;
        let status = resp.status().as_u16();
        match (credentials, status) {
            (Some(c), 404 | 405) => {
                let base = url::Url::parse(realm).map_err(|e| RegistryError::Invalid {
                    url: shown.clone(),
                    what: "token realm".into(),
                    message: e.to_string(),
                })?;
                post_form(http, &base, service, scopes, "password", c)?
            }
            _ => resp,
        }
    };
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = read_capped(response, 64 << 10);
        return Err(crate::registry::client::status_error(
            &shown,
            status,
            &body,
            "token realm",
        ));
    }
    let body = read_capped(response, 1 << 20);
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
            url: shown.clone(),
            what: "token response".into(),
            message: e.to_string(),
        })?;
    let token = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| RegistryError::Invalid {
            url: shown.clone(),
            what: "token response".into(),
            message: "no token in it".into(),
        })?;
    let lifetime = parsed
        .expires_in
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME);
    Ok((token, lifetime))
}

fn post_form(
    http: &reqwest::blocking::Client,
    url: &url::Url,
    service: Option<&str>,
    scopes: &[String],
    grant_type: &str,
    c: &Credentials,
) -> Result<reqwest::blocking::Response, RegistryError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", grant_type);
    if grant_type == "refresh_token" {
        form.append_pair("refresh_token", &c.password);
    } else {
        form.append_pair("username", &c.username);
        form.append_pair("password", &c.password);
    }
    form.append_pair("client_id", "coracle");
    if let Some(s) = service {
        form.append_pair("service", s);
    }
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(" "));
    }
    http.post(url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form.finish())
        .send()
        .map_err(|e| transport(url.as_str(), e))
}

fn transport(url: &str, e: reqwest::Error) -> RegistryError {
    RegistryError::Transport {
        url: url.to_string(),
        source: Box::new(e.without_url()),
    }
}

fn read_capped(response: reqwest::blocking::Response, cap: u64) -> Vec<u8> {
    use std::io::Read as _;
    let mut body = Vec::new();
    // An unreadable error body still leaves the status to report.
    let _ = response.take(cap).read_to_end(&mut body);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
            error: None,
        }
    }

    #[test]
    fn docker_hub() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        assert_eq!(
            pick_challenge([h]),
            Some(bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                Some("repository:library/busybox:pull")
            ))
        );
    }

    #[test]
    fn ping_without_scope() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#;
        assert_eq!(
            pick_challenge([h]),
            Some(bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                None
            ))
        );
    }

    #[test]
    fn quoted_commas_and_spaces() {
        // Quay and GHCR send several scopes in one quoted value.
        let h = r#"Bearer realm="https://ghcr.io/token", service="ghcr.io", scope="repository:a/b:pull,push repository:c/d:pull""#;
        assert_eq!(
            pick_challenge([h]),
            Some(bearer(
                "https://ghcr.io/token",
                Some("ghcr.io"),
                Some("repository:a/b:pull,push repository:c/d:pull")
            ))
        );
    }

    #[test]
    fn insufficient_scope() {
        let h = r#"Bearer realm="https://r.example/auth",service="r.example",scope="repository:x:pull,push",error="insufficient_scope""#;
        match pick_challenge([h]) {
            Some(Challenge::Bearer { error, scope, .. }) => {
                assert_eq!(error.as_deref(), Some("insufficient_scope"));
                assert_eq!(scope.as_deref(), Some("repository:x:pull,push"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn basic() {
        assert_eq!(
            pick_challenge([r#"Basic realm="Registry Realm""#]),
            Some(Challenge::Basic)
        );
        assert_eq!(pick_challenge(["basic realm=x"]), Some(Challenge::Basic));
    }

    #[test]
    fn several_challenges_prefer_bearer() {
        let h = r#"Basic realm="x", Bearer realm="https://a/t",service=a"#;
        assert_eq!(
            pick_challenge([h]),
            Some(bearer("https://a/t", Some("a"), None))
        );
        assert_eq!(
            pick_challenge([r#"Basic realm="x""#, r#"Bearer realm="https://a/t""#]),
            Some(bearer("https://a/t", None, None))
        );
    }

    #[test]
    fn unknown_and_malformed() {
        assert_eq!(pick_challenge([r#"Negotiate"#]), None);
        assert_eq!(pick_challenge([""]), None);
        // A bearer challenge without a realm cannot be answered.
        assert_eq!(pick_challenge([r#"Bearer service="x""#]), None);
        // Garbage does not hang or panic.
        assert_eq!(pick_challenge([r#"="" ,, "=Bearer "#]), None);
        assert_eq!(
            pick_challenge([r#"Bearer realm="https://a/t\"q""#]),
            Some(bearer("https://a/t\"q", None, None))
        );
    }

    #[test]
    fn token_cache_expires() {
        let cache = TokenCache::default();
        cache.put("a", "t".into(), Duration::from_secs(300));
        assert_eq!(cache.get("a").as_deref(), Some("t"));
        cache.put("b", "t".into(), Duration::from_secs(1));
        assert_eq!(cache.get("b"), None);
        cache.forget("a");
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn basic_header_encodes() {
        let c = Credentials {
            username: "alice".into(),
            password: "pw:x".into(),
        };
        assert_eq!(basic_header(&c), "Basic YWxpY2U6cHc6eA==");
    }
}
