//! `diff IMAGE` as Podman prints it, and the round trip of issue 4: change files of every kind
//! in a mounted overlay, then the walk of its upper directory lists exactly those changes and
//! the tar of it (what `commit` writes) holds exactly the changed entries with their true
//! headers.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use serde_json::json;

use crate::harness::for_each_user;
use crate::harness::images::derived;
use crate::harness::odd::odd;
use crate::overlay::with_mount;

/// What `diff odd:latest` prints: the odd image's top layer (whiteouts, an opaque directory,
/// type changes, a rewritten file) against busybox + the odd layer.
const ODD_DIFF: &[&str] = &[
    // `bin/` is not in the layer tar: made on extraction, so it is newer than the lower one.
    "C /bin",
    "D /bin/rm",
    // A change does not list its parent; `odd/` itself is as below, so it comes with the
    // first deletion.
    "C /odd/dir-becomes-symlink",
    "C /odd",
    "D /odd/file-becomes-dir",
    "A /odd/file-becomes-dir/now",
    "D /odd/gone-dir",
    "D /odd/gone-file",
    "D /odd/opaque",
    "A /odd/opaque/new",
    "C /odd/uid1000",
];

#[test]
fn diff_of_an_image_lists_its_top_layer() {
    for_each_user(|env| {
        env.load_image(odd());
        let text = env.ok(&["diff", "odd:latest"]);
        assert_eq!(text.lines().collect::<Vec<_>>(), ODD_DIFF, "{text}");
        assert_eq!(env.ok(&["image", "diff", "odd:latest"]), text);

        let o = env.coracle().args(["diff", "--format", "json", "odd"]).ok();
        let by = |letter: char| -> Vec<&str> {
            ODD_DIFF
                .iter()
                .filter(|l| l.starts_with(letter))
                .map(|l| &l[2..])
                .collect()
        };
        assert_eq!(
            o.json(),
            json!({"changed": by('C'), "added": by('A'), "deleted": by('D')})
        );
        // Podman's encoder: five spaces, keys in this order.
        assert!(
            o.stdout()
                .starts_with("{\n     \"changed\": [\n          \"/bin\",\n")
        );

        let img = derived(
            "diffme:latest",
            &[
                ("etc/motd", "hello\n"),
                ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                ("usr/local/note", "x\n"),
            ],
            json!({}),
        );
        env.load_image(&img);
        let text = env.ok(&["diff", "diffme"]);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                // `etc/` is in the layer as in busybox: listed for the addition in it.
                "C /etc",
                "A /etc/motd",
                "C /etc/passwd",
                // `usr/` is made on extraction (only `usr/local/` is in the tar).
                "C /usr",
                "A /usr/local",
                "A /usr/local/note",
            ],
            "{text}"
        );
        // Only the busybox layer: everything is new.
        let base = env.ok(&["diff", "--format", "json", "diffme"]);
        assert!(base.contains("\"added\""), "{base}");

        let bad = env
            .coracle()
            .args(["diff", "--format", "table", "odd"])
            .fails(125);
        bad.assert_stderr_contains("only supported value for '--format' is 'json'");
        env.coracle()
            .args(["diff", "no-such-image"])
            .fails(125)
            .assert_error();
    });
}

/// A tar entry as the round-trip test checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    kind: char,
    uid: u64,
    gid: u64,
    mode: u32,
    link: String,
    xattrs: Vec<(String, Vec<u8>)>,
    data: Vec<u8>,
}

fn read_tar(bytes: &[u8]) -> BTreeMap<String, Head> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let mut xattrs = Vec::new();
        if let Some(pax) = e.pax_extensions().expect("pax") {
            for r in pax {
                let r = r.expect("pax record");
                if let Some(name) = r.key().expect("pax key").strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), r.value_bytes().to_vec()));
                }
            }
        }
        let h = e.header().clone();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("tar data");
        out.insert(
            name,
            Head {
                kind: h.entry_type().as_byte() as char,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mode: h.mode().unwrap(),
                link: e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default(),
                xattrs,
                data,
            },
        );
    }
    out
}

#[test]
fn overlay_round_trip_gives_exactly_the_changes() {
    for_each_user(|env| {
        let root = env.user.is_root();
        let Some(out) = with_mount(
            env,
            // `odd/dir000` rather than `odd/dev`: the kernel refuses to unlink files whose owner
            // the namespace does not map (the devices owned by 0:5, 0:6, 1000).
            r#"
set -e
umask 022
echo new > added-file
mkdir added-dir && echo in > added-dir/f
ln -s added-file added-link
ln added-file added-hardlink
mkfifo added-fifo
echo more >> etc/passwd
chmod 600 etc/group
chmod 700 odd/ping
setfattr -n user.new -v 1 odd/epoch
chown 0:0 odd/uid1000
if [ "$(id -u)" = 0 ] && chown 1234:5678 odd/nobody 2>/dev/null; then echo chown=yes; fi
rm odd/readonly
rm -r odd/dir000
rm -r usr && mkdir usr && echo u > usr/file
echo done=yes
"#,
        ) else {
            return;
        };
        assert!(out.contains("done=yes"), "{out}");
        let chowned = out.contains("chown=yes");
        // Real root maps every id; a single mapping cannot give 1234 away.
        assert_eq!(chowned, root, "{out}");

        let up = env.path("up");
        let lowers: Vec<PathBuf> = odd()
            .diff_ids()
            .iter()
            .rev()
            .map(|d| {
                env.root()
                    .join("layers")
                    .join(d.strip_prefix("sha256:").unwrap())
                    .join("diff")
            })
            .collect();
        let changes: Vec<String> = coracle::archive::layer_changes(&up, &lowers)
            .unwrap_or_else(|e| panic!("walking {}: {e:#}", up.display()))
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut want = vec![
            "A /added-dir",
            "A /added-dir/f",
            "A /added-fifo",
            "A /added-file",
            "A /added-hardlink",
            "A /added-link",
            "C /etc",
            "C /etc/group",
            "C /etc/passwd",
            "C /odd",
            "D /odd/dir000",
            "C /odd/epoch",
        ];
        if chowned {
            want.push("C /odd/nobody");
        }
        want.extend(["C /odd/ping", "D /odd/readonly", "C /odd/uid1000"]);
        want.extend(["D /usr", "A /usr/file"]);
        assert_eq!(changes, want, "changes of {}", up.display());

        let table = coracle::archive::SymlinkTable::load(&env.path("")).expect("symlink table");
        let (summary, tar) = coracle::archive::create_layer(&up, &table, Vec::new())
            .unwrap_or_else(|e| panic!("tar of {}: {e:#}", up.display()));
        assert_eq!(summary.tar_size, tar.len() as u64);
        let entries = read_tar(&tar);
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        let mut want_names = vec![
            "added-dir/",
            "added-dir/f",
            "added-fifo",
            "added-file",
            "added-hardlink",
            "added-link",
            "etc/",
            "etc/group",
            "etc/passwd",
            "odd/",
            "odd/.wh.dir000",
            "odd/.wh.readonly",
            "odd/epoch",
        ];
        if chowned {
            want_names.push("odd/nobody");
        }
        want_names.extend([
            "odd/ping",
            "odd/uid1000",
            "usr/",
            "usr/.wh..wh..opq",
            "usr/file",
        ]);
        assert_eq!(names, want_names);

        let head = |name: &str| entries[name].clone();
        let file = |uid, gid, mode, data: &[u8]| Head {
            kind: '0',
            uid,
            gid,
            mode,
            link: String::new(),
            xattrs: Vec::new(),
            data: data.to_vec(),
        };
        assert_eq!(head("added-file"), file(0, 0, 0o644, b"new\n"));
        assert_eq!(
            head("added-hardlink"),
            Head {
                kind: '1',
                link: "added-file".into(),
                data: Vec::new(),
                ..file(0, 0, 0o644, b"")
            }
        );
        assert_eq!(
            head("added-link"),
            Head {
                kind: '2',
                link: "added-file".into(),
                ..file(0, 0, 0o777, b"")
            }
        );
        assert_eq!(
            head("added-fifo"),
            Head {
                kind: '6',
                ..file(0, 0, 0o644, b"")
            }
        );
        assert_eq!(head("added-dir/").kind, '5');
        assert_eq!(head("etc/group").mode, 0o600);
        assert!(head("etc/passwd").data.ends_with(b"\nmore\n"));
        let ping = head("odd/ping");
        assert_eq!(ping.mode, 0o700);
        assert_eq!(
            ping.xattrs,
            [(
                "security.capability".to_string(),
                crate::harness::odd::CAP_NET_RAW.to_vec()
            )]
        );
        assert_eq!(
            head("odd/epoch").xattrs,
            [("user.new".to_string(), b"1".to_vec())]
        );
        let uid1000 = head("odd/uid1000");
        assert_eq!((uid1000.uid, uid1000.gid), (0, 0));
        assert_eq!(uid1000.data, b"rewritten, new owner\n");
        if chowned {
            let nobody = head("odd/nobody");
            assert_eq!((nobody.uid, nobody.gid), (1234, 5678));
        }
        for wh in ["odd/.wh.dir000", "odd/.wh.readonly", "usr/.wh..wh..opq"] {
            let h = head(wh);
            assert_eq!((h.kind, h.uid, h.data.len()), ('0', 0, 0), "{wh}");
        }
        // No coracle metadata leaks into the image.
        for (name, h) in &entries {
            assert!(
                h.xattrs
                    .iter()
                    .all(|(x, _)| !x.starts_with("user.coracle.")),
                "{name}: {:?}",
                h.xattrs
            );
        }
    });
}

/// `diff CONTAINER` (and `container diff`) on both drivers: nothing for a created container,
/// the changes a run made once it stopped and while it runs, none of the paths Podman leaves
/// out (the generated files' mount points, `/proc`, `/sys`, `/dev`, `/run/.containerenv`).
#[test]
fn diff_of_containers_on_both_drivers() {
    use crate::harness::images::busybox;
    for_each_user(|env| {
        env.load_image(busybox());
        let mut texts = Vec::new();
        for driver in crate::exec::DRIVERS {
            let coracle = |args: &[&str]| {
                let mut c = env.coracle();
                c.args(["--storage-driver", driver]).args(args);
                c
            };
            let script = "echo x >> /etc/passwd; mkdir /newdir; touch /newdir/f; rm /bin/ls";
            coracle(&["create", "--name", "d", "busybox", "sh", "-c", script]).ok();
            assert_eq!(coracle(&["diff", "d"]).stdout(), "", "{driver}");
            coracle(&["start", "-a", "d"]).ok();
            let text = coracle(&["diff", "d"]).stdout();
            let lines: Vec<&str> = text.lines().collect();
            for want in [
                "C /etc",
                "C /etc/passwd",
                "A /newdir",
                "A /newdir/f",
                "C /bin",
                "D /bin/ls",
            ] {
                assert!(lines.contains(&want), "{driver}: no {want:?} in {text}");
            }
            for hidden in [
                "/etc/hosts",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/proc",
                "/sys",
            ] {
                assert!(
                    !lines.iter().any(|l| l[2..] == *hidden),
                    "{driver}: {hidden} listed: {text}"
                );
            }
            assert!(!text.contains("containerenv"), "{driver}: {text}");
            // A directory comes before what changed in it.
            let at = |l: &str| lines.iter().position(|x| *x == l).unwrap();
            assert!(at("A /newdir") < at("A /newdir/f"), "{text}");
            assert_eq!(coracle(&["container", "diff", "d"]).stdout(), text);
            texts.push(text.clone());
            let doc: serde_json::Value =
                serde_json::from_str(&coracle(&["diff", "--format", "json", "d"]).stdout())
                    .unwrap();
            assert!(
                doc["added"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("/newdir/f")),
                "{doc}"
            );
            assert!(
                doc["deleted"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("/bin/ls")),
                "{doc}"
            );
            coracle(&["rm", "d"]).ok();

            // While it runs.
            let c = crate::exec::Background::sleeping(env, driver, "live");
            c.exec(&[], &["touch", "/tmp/live"]).ok();
            let text = coracle(&["container", "diff", "-l"]).stdout();
            assert!(text.lines().any(|l| l == "A /tmp/live"), "{driver}: {text}");
            c.remove();
        }
        // The copied root compared with the image lists what the upper directory lists.
        assert_eq!(texts[0], texts[1], "{:?}", crate::exec::DRIVERS);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
