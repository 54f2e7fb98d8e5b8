//! The user-mode network helpers a rootless container's network needs: `pasta` (from passt,
//! preferred, as in Podman 5) or `slirp4netns`.

use super::{Finding, Fix, Host};

pub fn check(host: &Host) -> Finding {
    const NAME: &str = "network";
    let found: Vec<String> = ["pasta", "slirp4netns"]
        .iter()
        .filter_map(|t| host.which(t))
        .collect();
    if found.is_empty() {
        return Finding::fail(
            NAME,
            "neither pasta nor slirp4netns is in $PATH: containers can only use --network \
             none or host",
            Some(Fix::root(host.install_command("passt", "passt"))),
        );
    }
    Finding::ok(NAME, found.join(", "))
}
