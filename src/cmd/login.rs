//! `login` and `logout` as Podman (c/common `pkg/auth`): credentials are checked against the
//! registry before they are stored, so wrong ones are never saved; logout removes them from
//! the auth file (or its credential helper).

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, anyhow, bail};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::cmd::out;
use crate::config::Env;
use crate::error::ExitStatus;
use crate::oci::reference;
use crate::registry::client::{Client, RegistryError};
use crate::registry::conf::RegistriesConf;
use crate::registry::{ClientOptions, Credentials, Endpoint, credentials};

pub fn login(args: &LoginArgs) -> anyhow::Result<ExitStatus> {
    let env = Env::process();
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    let (key, registry) = credentials_key(&conf, args.registry.as_deref())?;
    let auth_file = credentials::auth_file(&env, args.authfile.as_deref())?;

    if args.get_login {
        return match credentials::lookup(&env, &auth_file, &key)? {
            Some(c) if !c.username.is_empty() => {
                out(&format!("{}\n", c.username))?;
                Ok(ExitStatus::Success)
            }
            _ => bail!("not logged into {key}"),
        };
    }

    let insecure = match args.tls_verify {
        Some(verify) => !verify,
        None => conf.is_insecure(&registry),
    };
    let check = |creds: &Credentials| -> Result<(), RegistryError> {
        let options = ClientOptions {
            cert_dir: args.cert_dir.clone(),
            ..ClientOptions::default()
        };
        let endpoint = Endpoint {
            host: registry.clone(),
            insecure,
        };
        Client::new(endpoint, Some(creds.clone()), &options)?.ping()
    };

    let mut password = args.password.clone();
    if args.password_stdin {
        if password.is_some() {
            bail!("can't specify both --password-stdin and --password");
        }
        if args.username.is_none() {
            bail!("must provide --username with --password-stdin");
        }
        // As Podman: every line of stdin, joined without the line breaks.
        let mut joined = String::new();
        for line in std::io::stdin().lock().lines() {
            joined.push_str(&line.context("reading the password from stdin")?);
        }
        password = Some(joined);
    }

    let mut previous_user = None;
    if args.username.is_none()
        && password.is_none()
        && let Some(existing) = credentials::lookup(&env, &auth_file, &key)?
    {
        if check(&existing).is_ok() {
            out(&format!(
                "Authenticating with existing credentials for {key}\nExisting credentials are valid. Already logged in to {registry}\n"
            ))?;
            return Ok(ExitStatus::Success);
        }
        out("Existing credentials are invalid, please enter valid username and password\n")?;
        previous_user = Some(existing.username);
    }

    let (username, password) = user_and_password(args.username.clone(), password, previous_user)
        .context("getting username and password")?;
    let creds = Credentials { username, password };
    match check(&creds) {
        Ok(()) => {}
        Err(RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }) => {
            bail!("logging into {key:?}: invalid username/password")
        }
        Err(e) => {
            return Err(anyhow!(e).context(format!("authenticating creds for {key:?}")));
        }
    }
    credentials::store(&env, &auth_file, &key, &creds)
        .with_context(|| format!("storing credentials for {key}"))?;
    if args.verbose {
        out(&format!("Used: {}\n", auth_file.display()))?;
    }
    out("Login Succeeded!\n")?;
    Ok(ExitStatus::Success)
}

pub fn logout(args: &LogoutArgs) -> anyhow::Result<ExitStatus> {
    let env = Env::process();
    let auth_file = credentials::auth_file(&env, args.authfile.as_deref())?;
    if args.all {
        credentials::remove_all(&env, &auth_file)?;
        out("Removed login credentials for all registries\n")?;
        return Ok(ExitStatus::Success);
    }
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    let (key, _) = credentials_key(&conf, args.registry.as_deref())?;
    if credentials::remove(&env, &auth_file, &key)? {
        out(&format!("Removed login credentials for {key}\n"))?;
        return Ok(ExitStatus::Success);
    }
    // Credentials in a file coracle does not write (Docker's config.json).
    if credentials::lookup(&env, &auth_file, &key)?.is_some_and(|c| !c.username.is_empty()) {
        out(&format!(
            "Not logged into {key} with current tool. Existing credentials were established via docker login. Please use docker logout instead.\n"
        ))?;
        return Ok(ExitStatus::Success);
    }
    bail!("not logged into {key}")
}

/// c/common's `parseCredentialsKey`: the key credentials are stored under (`host[:port]` or
/// `host/repo`, a URL reduced to its host) and the registry it belongs to.
fn credentials_key(conf: &RegistriesConf, arg: Option<&str>) -> anyhow::Result<(String, String)> {
    let arg = match arg {
        Some(arg) => arg,
        None => conf
            .search_registries()
            .first()
            .map(String::as_str)
            .ok_or_else(|| {
                anyhow!("no registries found in registries.conf, a registry must be provided")
            })?,
    };
    let key = match arg
        .strip_prefix("https://")
        .or_else(|| arg.strip_prefix("http://"))
    {
        Some(url) => url.split('/').next().unwrap_or(url),
        None => arg,
    };
    let key = key.trim_end_matches('/');
    if key.is_empty() {
        bail!("invalid registry {arg:?}");
    }
    let Some((registry, _)) = key.split_once('/') else {
        return Ok((key.to_string(), key.to_string()));
    };
    let parsed = reference::normalize_docker(key)
        .map_err(|e| anyhow!("parse reference from {key:?}: {e}"))?;
    if reference::is_short_name(key)? {
        bail!("{key:?} does not begin with a registry host");
    }
    let after_host = &key[registry.len()..];
    if after_host.contains([':', '@']) {
        bail!("reference {key:?} contains tag or digest");
    }
    Ok((parsed.name(), parsed.registry().to_string()))
}

/// The username and password from the flags, asking on the terminal for what is missing.
fn user_and_password(
    username: Option<String>,
    password: Option<String>,
    previous_user: Option<String>,
) -> anyhow::Result<(String, String)> {
    let stdin = std::io::stdin();
    let username = match username {
        Some(u) => u,
        None => {
            if !stdin.is_terminal() {
                bail!("reading username: stdin is not a terminal (use --username)");
            }
            let prompt = match &previous_user {
                Some(p) => format!("Username ({p}): "),
                None => "Username: ".to_string(),
            };
            let typed = prompt_line(&prompt).context("reading username")?;
            match (typed.is_empty(), previous_user) {
                (true, Some(p)) => p,
                _ => typed,
            }
        }
    };
    if username.is_empty() {
        bail!("username can't be empty");
    }
    let password = match password {
        Some(p) => p,
        None => {
            if !stdin.is_terminal() {
                bail!("reading password: stdin is not a terminal (use --password-stdin)");
            }
            read_password("Password: ").context("reading password")?
        }
    };
    if password.is_empty() {
        bail!("password can't be empty");
    }
    Ok((username, password))
}

fn prompt_line(prompt: &str) -> std::io::Result<String> {
    out(prompt)?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a line from the terminal on stdin with echo off.
fn read_password(prompt: &str) -> std::io::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    out(prompt)?;
    tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, OptionalActions::Now, &saved)?;
    // The user's Enter was not echoed.
    let _ = std::io::stdout().write_all(b"\n");
    if read? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let conf = RegistriesConf::default();
        let key = |arg: &str| credentials_key(&conf, Some(arg)).map_err(|e| e.to_string());
        let pair = |k: &str, r: &str| Ok((k.to_string(), r.to_string()));
        assert_eq!(
            key("localhost:5000"),
            pair("localhost:5000", "localhost:5000")
        );
        assert_eq!(key("https://quay.io/v2/"), pair("quay.io", "quay.io"));
        assert_eq!(key("quay.io/team/app"), pair("quay.io/team/app", "quay.io"));
        assert_eq!(
            key("docker.io/busybox"),
            pair("docker.io/library/busybox", "docker.io")
        );
        assert!(
            key("quay.io/team/app:1")
                .unwrap_err()
                .contains("tag or digest")
        );
        assert!(key("team/app").is_err());
        assert_eq!(credentials_key(&conf, None).unwrap().0, "docker.io");
    }
}
