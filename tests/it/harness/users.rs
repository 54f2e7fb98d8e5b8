//! The users a test runs `coracle` as, and each test's private directory.
//!
//! Every behaviour is checked as root, as `coracle-sub` (a user with `/etc/subuid` and
//! `/etc/subgid` ranges) and as `coracle-nosub` (a user with none, the single-mapping path).
//! `tests/run-all.sh` creates both users. A variant that cannot run here (the test process is
//! not root, or a user is missing) is skipped with one line `SKIP <test> as <user>: <reason>`.
//!
//! Each variant gets its own directory under a world-traversable base (`/var/tmp/coracle-it`,
//! or `$CORACLE_IT_TMPDIR`), owned by the user, holding `--root`, `--runroot`, a clean `HOME`,
//! `XDG_RUNTIME_DIR` and whatever files the test makes. The binary is copied once into that
//! base, so that a checkout under a mode-0700 home does not hide it from the users.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::cmd::Cmd;

/// Who runs the binary under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    Root,
    /// An ordinary user with subordinate id ranges.
    Sub,
    /// An ordinary user without any subordinate ids.
    NoSub,
}

impl User {
    pub const ALL: [User; 3] = [User::Root, User::Sub, User::NoSub];

    pub fn name(self) -> &'static str {
        match self {
            User::Root => "root",
            User::Sub => "coracle-sub",
            User::NoSub => "coracle-nosub",
        }
    }

    pub fn is_root(self) -> bool {
        self == User::Root
    }
}

/// Prints the one line that says a test (or one of its variants) did not run, and why.
///
/// It is written straight to the process's stderr: libtest captures `println!`/`eprintln!`
/// of passing tests, and CI must see and count every skip.
pub fn skip(test: &str, who: &str, reason: &str) {
    let line = format!("SKIP {test} as {who}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The name of the running test, from libtest's thread name (`module::test`).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n != "main")
        .unwrap_or_else(|| "test".to_string())
}

/// An account from `/etc/passwd`.
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks `name` up in `/etc/passwd`.
pub fn account(name: &str) -> Option<Account> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || f[0] != name {
            return None;
        }
        Some(Account {
            name: name.to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
        })
    })
}

/// Whether `name` has a range in both `/etc/subuid` and `/etc/subgid`.
pub fn has_subids(name: &str) -> bool {
    let has = |file: &str| {
        fs::read_to_string(file)
            .map(|s| {
                s.lines()
                    .any(|l| l.split(':').next() == Some(name) && l.split(':').count() == 3)
            })
            .unwrap_or(false)
    };
    has("/etc/subuid") && has("/etc/subgid")
}

pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The world-traversable directory every test directory lives in.
pub fn base_dir() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let base = std::env::var_os("CORACLE_IT_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("/var/tmp/coracle-it-{}", current_uid())));
        fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {}: {e}", base.display()));
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", base.display()));
        base
    })
}

/// The binary under test, copied once to a directory every user can read.
///
/// `CORACLE_IT_BIN` overrides it (e.g. `/usr/bin/podman`, to check what the tests expect of
/// Podman's behaviour against Podman itself).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("CORACLE_IT_BIN") {
            return PathBuf::from(p);
        }
        let built = Path::new(env!("CARGO_BIN_EXE_coracle"));
        let base = base_dir();
        remove_stale_binaries(base);
        let dir = base.join(format!("bin-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod bin dir");
        let dest = dir.join("coracle");
        let tmp = dir.join(".coracle.tmp");
        fs::copy(built, &tmp)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), tmp.display()));
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod binary");
        fs::rename(&tmp, &dest).expect("renaming the copied binary");
        dest
    })
}

/// Removes the binary copies of test runs whose process is gone.
fn remove_stale_binaries(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("bin-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// The reason `user` cannot be run here, if any.
pub fn unavailable(user: User) -> Option<String> {
    if current_uid() != 0 {
        return Some(format!(
            "the tests run as uid {}, not root (run tests/run-all.sh as root)",
            current_uid()
        ));
    }
    if user.is_root() {
        return None;
    }
    if account(user.name()).is_none() {
        return Some(format!(
            "no user {} (tests/run-all.sh creates it)",
            user.name()
        ));
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        return Some("no /usr/bin/setpriv (util-linux)".into());
    }
    match (user, has_subids(user.name())) {
        (User::Sub, false) => Some(format!(
            "{} has no range in /etc/subuid and /etc/subgid",
            user.name()
        )),
        (User::NoSub, true) => Some(format!(
            "{} has a range in /etc/subuid or /etc/subgid but must have none",
            user.name()
        )),
        _ => None,
    }
}

/// One test's world as one user: its directory, store and environment.
pub struct TestEnv {
    pub user: User,
    pub test: String,
    pub account: Account,
    /// The test's directory (owned by the user); removed when the `TestEnv` drops.
    dir: tempfile::TempDir,
}

impl TestEnv {
    /// Makes the directory of `test` run as `user`, or says why it cannot run.
    pub fn new(test: &str, user: User) -> Result<TestEnv, String> {
        if let Some(reason) = unavailable(user) {
            return Err(reason);
        }
        let account = if user.is_root() {
            Account {
                name: "root".into(),
                uid: 0,
                gid: 0,
            }
        } else {
            account(user.name()).ok_or_else(|| format!("no user {}", user.name()))?
        };
        // Short paths: Podman refuses a runroot longer than 50 characters, and unix socket
        // paths under the runroot are limited to 108. The test's name goes into `test.txt`.
        let dir = tempfile::Builder::new()
            .prefix("t")
            .rand_bytes(6)
            .tempdir_in(base_dir())
            .map_err(|e| format!("creating a directory in {}: {e}", base_dir().display()))?;
        let env = TestEnv {
            user,
            test: test.to_string(),
            account,
            dir,
        };
        fs::write(env.path("test.txt"), format!("{test} as {}\n", user.name()))
            .map_err(|e| format!("writing test.txt: {e}"))?;
        for sub in [
            "home",
            "home/.config",
            "home/.local",
            "home/.local/share",
            "xdg-run",
            "root",
            "runroot",
        ] {
            env.mkdir(sub);
        }
        fs::set_permissions(env.dir(), fs::Permissions::from_mode(0o755)).expect("chmod test dir");
        fs::set_permissions(env.path("xdg-run"), fs::Permissions::from_mode(0o700))
            .expect("chmod xdg-run");
        env.give(env.dir());
        Ok(env)
    }

    /// The test's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the test's directory.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir().join(rel)
    }

    /// The store's `--root`.
    pub fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// The store's `--runroot`.
    pub fn runroot(&self) -> PathBuf {
        self.path("runroot")
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Creates a directory (and its parents) owned by the user.
    pub fn mkdir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
        self.give(&p);
        p
    }

    /// Writes a file owned by the user.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        self.give(&p);
        p
    }

    /// Hands `path` (recursively, without following symlinks) to the user.
    pub fn give(&self, path: &Path) {
        if current_uid() != 0 || self.account.uid == 0 {
            return;
        }
        let (uid, gid) = (self.account.uid, self.account.gid);
        fn walk(p: &Path, uid: u32, gid: u32) {
            lchown(p, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
            if p.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false) {
                for e in fs::read_dir(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
                {
                    walk(&e.expect("dir entry").path(), uid, gid);
                }
            }
        }
        walk(path, uid, gid);
    }

    /// The environment every command gets: nothing from the test process leaks in.
    pub fn environment(&self) -> Vec<(String, String)> {
        let home = self.home();
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        vec![
            ("HOME".into(), s(home.clone())),
            ("USER".into(), self.account.name.clone()),
            ("LOGNAME".into(), self.account.name.clone()),
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("XDG_RUNTIME_DIR".into(), s(self.path("xdg-run"))),
            ("XDG_DATA_HOME".into(), s(home.join(".local/share"))),
            ("XDG_CONFIG_HOME".into(), s(home.join(".config"))),
            ("LANG".into(), "C.UTF-8".into()),
            ("TZ".into(), "UTC".into()),
        ]
    }

    /// `program` run as the user with the clean environment, in the test's directory.
    pub fn run_as(&self, program: impl AsRef<Path>, shown: &str) -> Cmd {
        let program = program.as_ref();
        let mut c = if self.user.is_root() {
            Command::new(program)
        } else {
            let mut c = Command::new("/usr/bin/setpriv");
            c.arg(format!("--reuid={}", self.account.uid))
                .arg(format!("--regid={}", self.account.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            c
        };
        c.env_clear()
            .envs(self.environment())
            .current_dir(self.dir());
        Cmd::wrap(c, shown, self.user.name())
    }

    /// The binary under test with no arguments: default store locations (the XDG ones).
    pub fn coracle_bare(&self) -> Cmd {
        self.run_as(binary(), "coracle")
    }

    /// The binary under test on this test's own store (`--root`, `--runroot`).
    pub fn coracle(&self) -> Cmd {
        let mut c = self.coracle_bare();
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot());
        c
    }

    /// The binary under test on a second store of this test, `<name>/root` and
    /// `<name>/runroot` (e.g. to load what was saved from the first one).
    pub fn coracle_at(&self, name: &str) -> Cmd {
        let root = self.mkdir(format!("{name}/root"));
        let runroot = self.mkdir(format!("{name}/runroot"));
        let mut c = self.coracle_bare();
        c.arg("--root").arg(root).arg("--runroot").arg(runroot);
        c
    }

    /// Shorthand: `coracle ARGS` on the test's store, asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.coracle().args(args).stdout()
    }

    /// Entries left in the store's staging directory `tmp/` (absent counts as empty).
    pub fn store_tmp_entries(&self) -> Vec<String> {
        let tmp = self.root().join("tmp");
        let mut v: Vec<String> = match fs::read_dir(&tmp) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    /// Container directories and staging entries left in the store (`containers/...`,
    /// `tmp/...`): what a removed container must not leave behind.
    pub fn container_leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.root().join("containers"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| format!("containers/{}", e.file_name().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        v.extend(
            self.store_tmp_entries()
                .into_iter()
                .map(|e| format!("tmp/{e}")),
        );
        v
    }
}

impl Drop for TestEnv {
    /// Lazily unmounts whatever a failed test left mounted below its directory (Podman's
    /// root store, a FUSE overlay), so that the directory can be removed.
    fn drop(&mut self) {
        let dir = self.dir().to_string_lossy().into_owned();
        let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
            return;
        };
        for m in mounts.lines().filter_map(|l| l.split(' ').nth(1)) {
            if m.starts_with(&format!("{dir}/")) {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
    }
}

/// Runs `body` once per user (root, coracle-sub, coracle-nosub), each in its own thread and
/// its own `TestEnv`. Variants that cannot run print one SKIP line; a failure in any variant
/// fails the test after all variants have finished.
pub fn for_each_user(body: impl Fn(&TestEnv) + Sync) {
    for_users(&User::ALL, body)
}

/// Like [`for_each_user`], for a chosen set of users.
pub fn for_users(users: &[User], body: impl Fn(&TestEnv) + Sync) {
    let test = test_name();
    let body = &body;
    let failed: Vec<&'static str> = std::thread::scope(|s| {
        let handles: Vec<_> = users
            .iter()
            .map(|&user| {
                let test = test.clone();
                let h = std::thread::Builder::new()
                    .name(format!("{test}@{}", user.name()))
                    .spawn_scoped(s, move || match TestEnv::new(&test, user) {
                        Ok(env) => body(&env),
                        Err(reason) => skip(&test, user.name(), &reason),
                    })
                    .expect("spawning a test thread");
                (user, h)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(user, h)| h.join().is_err().then_some(user.name()))
            .collect()
    });
    if !failed.is_empty() {
        panic!("{test} failed as: {}", failed.join(", "));
    }
}

/// Runs `body` as root only (tests of other tools, e.g. Podman, that need root here).
pub fn as_root(body: impl Fn(&TestEnv) + Sync) {
    for_users(&[User::Root], body)
}
