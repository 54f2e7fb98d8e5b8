//! `build --cache-to REPO` / `--cache-from REPO`: the steps' images go to a registry tagged
//! by their cache keys, and a build in an empty store takes every step from there instead
//! of running it (the same image ID, the same RUN output in the image).

use crate::harness::images::busybox;
use crate::harness::registry::{self, RegistryOpts, RegistryServer};
use crate::harness::{Cmd, User, for_users};

const FILE: &str = "FROM busybox\n\
                    ENV A=1\n\
                    RUN echo ran-the-run && date +%s%N > /stamp\n\
                    WORKDIR /w\n\
                    RUN echo $A > /w/a\n";

/// The tags of `repo`, from the registry's API.
fn tags(reg: &RegistryServer, repo: &str) -> Vec<String> {
    let o = Cmd::new("curl", "root")
        .args(["-s", "--max-time", "20"])
        .arg(format!("{}/v2/{repo}/tags/list", reg.url()))
        .ok();
    o.json()["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn hits(o: &crate::harness::cmd::Output) -> usize {
    o.stdout().matches("--> Using cache ").count()
}

#[test]
fn cache_from_a_registry_replaces_every_step() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    let repo = reg.image_ref("cache/app");
    for_users(&[User::Sub], |env| {
        env.load_image(busybox());
        let ctx = env.mkdir("ctx");
        env.write("ctx/Containerfile", FILE);
        env.give(&ctx);
        let a = env
            .coracle()
            .args(["build", "--pull=never", "--tls-verify=false", "-t", "app:1"])
            .args(["--cache-to", &repo])
            .arg(&ctx)
            .ok();
        assert!(a.stdout().contains("\nran-the-run\n"), "{a}");
        let id_a = a.stdout().lines().last().unwrap_or_default().to_string();
        // Four steps after FROM, each tagged by its key.
        let tags = tags(&reg, "cache/app");
        assert_eq!(tags.len(), 4, "{tags:?}");
        assert!(tags.iter().all(|t| t.len() == 64), "{tags:?}");

        // Another, empty store: every step comes from the registry, no RUN runs.
        let b = || env.coracle_at("b");
        let archive = env.docker_archive("bb.tar", busybox());
        b().args(["load", "-i"]).arg(&archive).ok();
        let o = b()
            .args(["build", "--pull=never", "--tls-verify=false", "-t", "app:1"])
            .args(["--cache-from", &repo])
            .arg(&ctx)
            .ok();
        assert_eq!(hits(&o), 4, "{o}");
        assert!(!o.stdout().contains("\nran-the-run\n"), "{o}");
        let id_b = o.stdout().lines().last().unwrap_or_default().to_string();
        assert_eq!(id_a, id_b, "{a}\n{o}");
        let stamp = |c: crate::harness::Cmd| {
            let mut c = c;
            c.args(["run", "--rm", "--network", "none", "localhost/app:1"])
                .args(["cat", "/stamp", "/w/a"])
                .ok()
                .stdout()
        };
        let in_a = stamp(env.coracle());
        assert_eq!(in_a, stamp(b()));
        assert!(in_a.ends_with("\n1\n"), "{in_a}");
        // The cache images are intermediate, not named after the registry's tags.
        let names = b()
            .args(["images", "--format", "{{.Repository}}"])
            .ok()
            .stdout();
        assert!(!names.contains("cache/app"), "{names}");
        // And the local cache now has them: a rebuild without --cache-from hits too.
        let again = b().args(["build", "--pull=never"]).arg(&ctx).ok();
        assert_eq!(hits(&again), 4, "{again}");

        // A changed step misses in the registry and runs.
        env.write(
            "ctx/Containerfile",
            FILE.replace("$A > /w/a", "$A$A > /w/a"),
        );
        let o = b()
            .args(["build", "--pull=never", "--tls-verify=false"])
            .args(["--cache-from", &repo])
            .arg(&ctx)
            .ok();
        assert_eq!(hits(&o), 3, "{o}");
    });
}
