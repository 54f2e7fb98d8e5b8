//! Registry credentials as Podman finds and keeps them: the auth file (`--authfile`, else
//! `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`; root without
//! `XDG_RUNTIME_DIR` uses `/run/containers/0/auth.json`, another user what Podman sets
//! `XDG_RUNTIME_DIR` to, `/run/user/UID` when it is theirs, else `/tmp/podman-run-UID`), then
//! `$XDG_CONFIG_HOME/containers/auth.json`, then Docker's `$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`. In each, `credHelpers[host]`, then `auths` (keys `host/repo/path`
//! more specific first, then `host`, then any key naming the same host, such as Docker Hub's
//! `https://index.docker.io/v1/`), then `credsStore`; helpers are the `docker-credential-NAME`
//! programs (`get`/`store`/`erase`, JSON on stdin/stdout).
//!
//! Only the auth file is ever written; keys coracle does not know are kept, and the file is
//! replaced atomically with mode 0600 (its directory created 0700).

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::config::Env;
use crate::registry::Credentials;

/// The user name Docker stores an identity token under.
pub const TOKEN_USER: &str = "<token>";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid auth file: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credential helper docker-credential-{helper} {action} for {key}: {message}")]
    Helper {
        helper: String,
        action: &'static str,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
}

fn var(env: &Env, name: &str) -> Option<String> {
    (env.var)(name).filter(|v| !v.is_empty())
}

/// The auth file this command reads and writes.
pub fn auth_file(env: &Env, flag: Option<&Path>) -> Result<PathBuf, CredentialsError> {
    if let Some(path) = flag.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = var(env, "REGISTRY_AUTH_FILE") {
        return Ok(PathBuf::from(path));
    }
    let runtime_dir = match var(env, "XDG_RUNTIME_DIR") {
        Some(dir) => {
            if !Path::new(&dir).exists() {
                return Err(CredentialsError::Usage(format!(
                    "{dir:?} directory set by $XDG_RUNTIME_DIR does not exist. Either create the directory or unset $XDG_RUNTIME_DIR."
                )));
            }
            PathBuf::from(dir)
        }
        None if env.uid == 0 => PathBuf::from("/run/containers/0"),
        None => {
            let run_user = PathBuf::from(format!("/run/user/{}", env.uid));
            let owned =
                std::fs::metadata(&run_user).is_ok_and(|m| m.is_dir() && m.uid() == env.uid);
            if owned {
                run_user
            } else {
                let tmp = var(env, "TMPDIR").unwrap_or_else(|| "/tmp".into());
                Path::new(&tmp).join(format!("podman-run-{}", env.uid))
            }
        }
    };
    if env.uid == 0 && var(env, "XDG_RUNTIME_DIR").is_none() {
        return Ok(runtime_dir.join("auth.json"));
    }
    Ok(runtime_dir.join("containers/auth.json"))
}

/// Every file looked in, in order: the auth file, the user's containers auth.json, Docker's.
fn search_paths(env: &Env, auth_file: &Path) -> Vec<PathBuf> {
    let mut paths = vec![auth_file.to_path_buf()];
    if let Some(config) = crate::registry::conf::config_home(env) {
        paths.push(config.join("containers/auth.json"));
    }
    match (var(env, "DOCKER_CONFIG"), var(env, "HOME")) {
        (Some(dir), _) => paths.push(Path::new(&dir).join("config.json")),
        (None, Some(home)) => paths.push(Path::new(&home).join(".docker/config.json")),
        (None, None) => {}
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !unique.contains(&path) {
            unique.push(path);
        }
    }
    unique
}

/// An auth file's JSON object; an empty object when the file does not exist or is empty.
fn read_file(path: &Path) -> Result<Map<String, Value>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(CredentialsError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid(path, "not a JSON object".into())),
        Err(e) => Err(invalid(path, e.to_string())),
    }
}

fn invalid(path: &Path, message: String) -> CredentialsError {
    CredentialsError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// The registry host of a key: `host/repo` → `host`.
fn registry_of(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// c/image's `normalizeAuthFileKey`: a URL (`https://host/v1/`) becomes its host, Docker Hub's
/// other names `docker.io`; a `host/repo` key stays as it is (it only matches exactly).
fn normalize_key(key: &str) -> &str {
    let stripped = match key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
    {
        Some(url) => registry_of(url),
        None => key,
    };
    match stripped {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        host => host,
    }
}

/// `key`, then each shorter `host/path` prefix of it, ending with `host`.
fn keys_for(key: &str) -> Vec<&str> {
    let mut keys = vec![key];
    let mut rest = key;
    while let Some(i) = rest.rfind('/') {
        rest = &key[..i];
        keys.push(rest);
    }
    keys
}

/// The credentials for `key` (`host` or `host/repo/path`, most specific entry wins).
pub fn lookup(
    env: &Env,
    auth_file: &Path,
    key: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    for path in search_paths(env, auth_file) {
        let file = read_file(&path)?;
        if let Some(found) = lookup_in(env, &file, &path, key)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn lookup_in(
    env: &Env,
    file: &Map<String, Value>,
    path: &Path,
    key: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let registry = registry_of(key);
    if let Some(helper) = helper_for(file, registry) {
        return helper_get(env, &helper, registry);
    }
    if let Some(auths) = file.get("auths") {
        let Some(auths) = auths.as_object() else {
            return Err(invalid(path, "\"auths\" is not an object".into()));
        };
        for candidate in keys_for(key) {
            if let Some(entry) = auths.get(candidate) {
                return decode(path, candidate, entry);
            }
        }
        for (k, entry) in auths {
            if normalize_key(k) == registry {
                return decode(path, k, entry);
            }
        }
    }
    if let Some(store) = file.get("credsStore").and_then(Value::as_str)
        && !store.is_empty()
    {
        return helper_get(env, store, registry);
    }
    Ok(None)
}

fn helper_for(file: &Map<String, Value>, registry: &str) -> Option<String> {
    file.get("credHelpers")?
        .as_object()?
        .get(registry)?
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// The credential helper that stores `key`'s credentials, if the file names one for its
/// registry; helpers keep whole registries, so a `host/repo` key is refused for them.
fn writable_helper(
    file: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, CredentialsError> {
    let Some(helper) = helper_for(file, registry_of(key)) else {
        return Ok(None);
    };
    if key != registry_of(key) {
        return Err(CredentialsError::Usage(format!(
            "{key}: namespaced key is not supported for credential helper {helper}"
        )));
    }
    Ok(Some(helper))
}

/// One `auths` entry: `auth` (base64 `user:password`) or `identitytoken`.
fn decode(path: &Path, key: &str, entry: &Value) -> Result<Option<Credentials>, CredentialsError> {
    if let Some(token) = entry.get("identitytoken").and_then(Value::as_str)
        && !token.is_empty()
    {
        return Ok(Some(Credentials {
            username: TOKEN_USER.into(),
            password: token.into(),
        }));
    }
    let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    else {
        return Ok(None);
    };
    let bytes = BASE64
        .decode(auth.trim())
        .map_err(|e| invalid(path, format!("auths[{key:?}].auth is not base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| invalid(path, format!("auths[{key:?}].auth is not UTF-8")))?;
    Ok(text.split_once(':').map(|(user, password)| Credentials {
        username: user.to_string(),
        password: password.trim_end_matches('\0').to_string(),
    }))
}

/// Stores credentials for `key` in `auth_file` (or its credential helper), replacing the
/// file atomically with mode 0600.
pub fn store(
    env: &Env,
    auth_file: &Path,
    key: &str,
    credentials: &Credentials,
) -> Result<(), CredentialsError> {
    let mut file = read_file(auth_file)?;
    let registry = registry_of(key);
    if let Some(helper) = writable_helper(&file, key)? {
        return helper_store(env, &helper, registry, credentials);
    }
    let auths = file
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(auths) = auths.as_object_mut() else {
        return Err(invalid(auth_file, "\"auths\" is not an object".into()));
    };
    let encoded = BASE64.encode(format!("{}:{}", credentials.username, credentials.password));
    // Other fields of an existing entry (Docker's `email`, ...) are kept.
    let entry = auths
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    match entry.as_object_mut() {
        Some(entry) => {
            entry.remove("identitytoken");
            entry.insert("auth".into(), Value::String(encoded));
        }
        None => *entry = serde_json::json!({ "auth": encoded }),
    }
    write_json(auth_file, &file)
}

/// Removes the entry for `key`; false when there was none.
pub fn remove(env: &Env, auth_file: &Path, key: &str) -> Result<bool, CredentialsError> {
    let mut file = read_file(auth_file)?;
    let registry = registry_of(key);
    if let Some(helper) = writable_helper(&file, key)? {
        return helper_erase(env, &helper, registry);
    }
    let Some(auths) = file.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let normalized = if key == "index.docker.io" {
        "docker.io"
    } else {
        key
    };
    let removed = auths.remove(key).is_some() || auths.remove(normalized).is_some();
    if removed {
        write_json(auth_file, &file)?;
    }
    Ok(removed)
}

/// Removes every entry of `auth_file` (`logout --all`), erasing those its `credHelpers` keep.
pub fn remove_all(env: &Env, auth_file: &Path) -> Result<(), CredentialsError> {
    let mut file = read_file(auth_file)?;
    if let Some(helpers) = file.get("credHelpers").and_then(Value::as_object) {
        for (registry, helper) in helpers {
            if let Some(helper) = helper.as_str().filter(|h| !h.is_empty()) {
                helper_erase(env, helper, registry)?;
            }
        }
    }
    if file.remove("auths").is_none() && !auth_file.exists() {
        return Ok(());
    }
    file.insert("auths".into(), Value::Object(Map::new()));
    write_json(auth_file, &file)
}

/// `--creds USER[:PASSWORD]` (a missing password is asked for on a terminal by the caller).
pub fn parse_creds(flag: &str) -> Result<(String, Option<String>), CredentialsError> {
    if flag.is_empty() {
        return Err(CredentialsError::Usage("credentials can't be empty".into()));
    }
    let (user, password) = match flag.split_once(':') {
        Some((user, password)) => (user, Some(password.to_string())),
        None => (flag, None),
    };
    if user.is_empty() {
        return Err(CredentialsError::Usage("username can't be empty".into()));
    }
    Ok((user.to_string(), password))
}

fn write_json(path: &Path, file: &Map<String, Value>) -> Result<(), CredentialsError> {
    let mut text = serde_json::to_vec_pretty(file).map_err(|e| invalid(path, e.to_string()))?;
    text.push(b'\n');
    write_atomic(path, &text, 0o600).map_err(|source| CredentialsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces `path` with `bytes` (a temporary file in the same directory, fsynced, renamed),
/// creating the directory with mode 0700 when missing.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ---- docker-credential-* helpers ----

fn run_helper(
    env: &Env,
    helper: &str,
    action: &'static str,
    key: &str,
    input: &[u8],
) -> Result<(bool, String), CredentialsError> {
    let err = |message: String| CredentialsError::Helper {
        helper: helper.to_string(),
        action,
        key: key.to_string(),
        message,
    };
    let program = format!("docker-credential-{helper}");
    // Looked up in the environment's PATH, not necessarily the process's.
    let path = var(env, "PATH")
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(&program))
        .find(|p| p.is_file())
        .ok_or_else(|| err(format!("{program} not found in $PATH")))?;
    let mut child = Command::new(&path)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("running {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading reports its failure through its status.
        let _ = stdin.write_all(input);
    }
    let output = child
        .wait_with_output()
        .map_err(|e| err(format!("waiting for {program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() {
        return Ok((true, stdout));
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    // The helpers' protocol: "credentials not found in native keychain" on stdout.
    if stdout.contains("credentials not found") {
        return Ok((false, stdout));
    }
    let detail = [stdout, stderr]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    Err(err(format!("{}: {detail}", output.status)))
}

fn helper_get(
    env: &Env,
    helper: &str,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let (found, stdout) = run_helper(env, helper, "get", registry, registry.as_bytes())?;
    if !found {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(&stdout).map_err(|e| CredentialsError::Helper {
        helper: helper.to_string(),
        action: "get",
        key: registry.to_string(),
        message: format!("invalid JSON output: {e}"),
    })?;
    let field = |name| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (username, password) = (field("Username"), field("Secret"));
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials { username, password }))
}

fn helper_store(
    env: &Env,
    helper: &str,
    registry: &str,
    credentials: &Credentials,
) -> Result<(), CredentialsError> {
    let input = serde_json::json!({
        "ServerURL": registry,
        "Username": credentials.username,
        "Secret": credentials.password,
    });
    run_helper(env, helper, "store", registry, input.to_string().as_bytes()).map(|_| ())
}

fn helper_erase(env: &Env, helper: &str, registry: &str) -> Result<bool, CredentialsError> {
    run_helper(env, helper, "erase", registry, registry.as_bytes()).map(|(found, _)| found)
}

#[cfg(test)]
mod tests;
