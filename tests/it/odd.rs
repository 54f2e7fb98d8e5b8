//! The odd image (owners, devices, set-id bits, `chmod 000`, xattrs, hardlinks, long names,
//! whiteouts, opaque directories): loaded by any user, saved back byte for byte.

use crate::harness::archive::read_docker_archive;
use crate::harness::for_each_user;
use crate::harness::images::busybox;
use crate::harness::odd::odd;
use crate::harness::store::{assert_same_layers, rootfs_layers};
use serde_json::json;
use std::fs;

#[test]
fn docker_archive_round_trip_is_byte_identical() {
    for_each_user(|env| {
        env.load_image(odd());
        crate::save::save_every_format(env, "odd", odd(), "docker.io/library/odd:latest");
    });
}

#[test]
fn oci_archive_round_trip_is_byte_identical() {
    for_each_user(|env| {
        env.load(&env.oci_archive("odd-oci.tar", odd(), Some("example.com/odd:oci")));
        let i = env.inspect("example.com/odd:oci");
        assert_eq!(i["Id"], json!(odd().id()));
        assert_eq!(rootfs_layers(&i), odd().diff_ids());
        let p = env.path("odd-saved.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&p)
            .arg("example.com/odd:oci")
            .ok();
        let r = read_docker_archive(&fs::read(&p).expect("read"));
        let want: Vec<Vec<u8>> = odd().layers.iter().map(|l| l.tar.clone()).collect();
        assert_same_layers("odd via OCI archive", &want, &r[0].layers);
    });
}

#[test]
fn odd_and_busybox_share_the_base_layer() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(odd());
        env.ok(&["rmi", "odd"]);
        let p = env.path("bb.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&p)
            .arg("busybox")
            .ok();
        let r = read_docker_archive(&fs::read(&p).expect("read"));
        assert_same_layers(
            "busybox after rmi odd",
            &[busybox().layers[0].tar.clone()],
            &r[0].layers,
        );
        // and the other way round
        env.load_image(odd());
        env.ok(&["rmi", "busybox"]);
        let p = env.path("odd.tar");
        env.coracle().args(["save", "-o"]).arg(&p).arg("odd").ok();
        let r = read_docker_archive(&fs::read(&p).expect("read"));
        let want: Vec<Vec<u8>> = odd().layers.iter().map(|l| l.tar.clone()).collect();
        assert_same_layers("odd after rmi busybox", &want, &r[0].layers);
    });
}

#[test]
fn nothing_in_the_store_is_setuid_or_unreadable() {
    use std::os::unix::fs::MetadataExt;
    for_each_user(|env| {
        env.load_image(odd());
        assert_eq!(env.image_ids(), [odd().id()]);
        let mut bad = Vec::new();
        fn walk(d: &std::path::Path, uid: u32, bad: &mut Vec<String>) {
            let Ok(rd) = fs::read_dir(d) else { return };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(m) = p.symlink_metadata() else {
                    continue;
                };
                if m.file_type().is_symlink() {
                    continue;
                }
                let mode = m.mode();
                if mode & 0o6000 != 0 {
                    bad.push(format!("{} has set-id bits ({mode:o})", p.display()));
                }
                if m.uid() != uid {
                    bad.push(format!("{} is owned by {} not {uid}", p.display(), m.uid()));
                }
                if mode & 0o600 != 0o600 && !m.is_dir() || m.is_dir() && mode & 0o700 != 0o700 {
                    bad.push(format!(
                        "{} is not owner-accessible ({mode:o})",
                        p.display()
                    ));
                }
                if m.is_dir() {
                    walk(&p, uid, bad);
                }
            }
        }
        walk(&env.root(), env.account.uid, &mut bad);
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    });
}
