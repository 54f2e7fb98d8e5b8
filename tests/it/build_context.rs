//! `build` with contexts that are not a directory, end to end: a tar file, a tar on stdin, a
//! Containerfile alone on stdin, an http URL of a tar, a git repository over http with
//! `#ref:subdir`; `-f` names a file inside each of them. A Python `http.server` serves the
//! tar and the (bare, `update-server-info`'d) repository.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::images::{busybox, tar_of_files};
use crate::harness::{TestEnv, for_each_user};

/// `coracle --storage-driver overlay build ARGS`.
fn build(env: &TestEnv, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", "overlay", "build"]).args(args);
    c
}

/// What `cat FILES` prints in a container of `image`.
fn cat(env: &TestEnv, image: &str, files: &[&str]) -> String {
    let mut c = env.coracle();
    c.args(["--storage-driver", "overlay", "run", "--rm", image, "cat"])
        .args(files);
    c.ok().stdout()
}

/// The files of the context used by every test: a Containerfile at the root and another one
/// in a subdirectory, copying different files.
fn context_files() -> Vec<(String, Vec<u8>)> {
    let f = |p: &str, s: &str| (p.to_string(), s.as_bytes().to_vec());
    vec![
        f("Containerfile", "FROM busybox\nCOPY a.txt /a.txt\n"),
        f("a.txt", "file a\n"),
        f("sub/b.txt", "file b\n"),
        f(
            "sub/Other.containerfile",
            "FROM busybox\nCOPY sub/b.txt /b.txt\nCOPY a.txt /a2.txt\n",
        ),
    ]
}

/// Builds the root Containerfile and the `-f sub/Other.containerfile` of `spec`, and checks
/// what each copied.
fn builds_both(env: &TestEnv, spec: &str, tag: &str) {
    build(env, &["-q", "-t", &format!("{tag}:root"), spec]).ok();
    assert_eq!(cat(env, &format!("{tag}:root"), &["/a.txt"]), "file a\n");
    build(
        env,
        &[
            "-q",
            "-t",
            &format!("{tag}:other"),
            "-f",
            "sub/Other.containerfile",
            spec,
        ],
    )
    .ok();
    assert_eq!(
        cat(env, &format!("{tag}:other"), &["/b.txt", "/a2.txt"]),
        "file b\nfile a\n"
    );
}

/// `python3 -m http.server` on a free port serving `dir`; stopped when dropped.
pub(crate) struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    pub(crate) fn start(dir: &Path) -> HttpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting python3 -m http.server");
        let s = HttpServer { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "http.server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn build_from_a_tar_file_and_a_tar_on_stdin() {
    for_each_user(|env| {
        env.load_image(busybox());
        let tar = env.write("ctx.tar", tar_of_files(&context_files()));
        builds_both(env, tar.to_str().unwrap(), "tarfile");

        // The same tar on stdin, with `-f` inside it.
        build(env, &["-q", "-t", "stdin:root", "-"])
            .stdin_file(&tar)
            .ok();
        assert_eq!(cat(env, "stdin:root", &["/a.txt"]), "file a\n");
        build(
            env,
            &[
                "-q",
                "-t",
                "stdin:other",
                "-f",
                "sub/Other.containerfile",
                "-",
            ],
        )
        .stdin_file(&tar)
        .ok();
        assert_eq!(
            cat(env, "stdin:other", &["/b.txt", "/a2.txt"]),
            "file b\nfile a\n"
        );
        // `-f -` with `-` as the context: stdin cannot be both.
        build(env, &["-f", "-", "-"])
            .stdin_file(&tar)
            .fails(125)
            .assert_stderr_contains("stdin");
    });
}

#[test]
fn build_from_a_containerfile_alone_on_stdin() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = build(env, &["-q", "-t", "alone", "-"])
            .stdin("FROM busybox\nENV FROM_STDIN=yes\nLABEL k=v\n")
            .ok();
        let i = env.inspect("localhost/alone:latest");
        assert_eq!(i["Config"]["Labels"]["k"], "v", "{o}");
        // Its context is empty: a COPY has nothing to copy.
        build(env, &["-t", "alone2", "-"])
            .stdin("FROM busybox\nCOPY a.txt /\n")
            .fails(125)
            .assert_stderr_contains("a.txt");
        assert!(!env.ok(&["images"]).contains("alone2"));
    });
}

#[test]
fn build_from_an_http_url_of_a_tar() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("www/ctx.tar", tar_of_files(&context_files()));
        let server = HttpServer::start(&env.path("www"));
        builds_both(env, &server.url("ctx.tar"), "url");
        // A URL that is not there: coracle's error with the URL.
        build(env, &["-t", "nothing", &server.url("missing.tar")])
            .fails(125)
            .assert_stderr_contains("missing.tar");
    });
}

pub(crate) fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "safe.directory=*"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("running git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn build_from_a_git_repository_with_ref_and_subdir() {
    for_each_user(|env| {
        env.load_image(busybox());
        // A repository whose branch `feature` changes the files under `app/`.
        let work = env.mkdir("work");
        for (p, bytes) in context_files() {
            env.write(format!("work/app/{p}"), bytes);
        }
        env.write("work/README", "outside the subdirectory\n");
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "one"]);
        git(&work, &["checkout", "-q", "-b", "feature"]);
        env.write("work/app/a.txt", "file a on feature\n");
        git(&work, &["commit", "-qam", "two"]);
        git(&work, &["checkout", "-q", "main"]);
        env.mkdir("www");
        git(
            env.dir(),
            &["clone", "-q", "--bare", "work", "www/repo.git"],
        );
        git(&env.path("www/repo.git"), &["update-server-info"]);
        let server = HttpServer::start(&env.path("www"));

        // The default branch, subdirectory `app` as the context.
        builds_both(env, &format!("{}#:app", server.url("repo.git")), "gitmain");
        // The branch `feature`, `-f` inside the subdirectory.
        let spec = format!("{}#feature:app", server.url("repo.git"));
        build(
            env,
            &[
                "-q",
                "-t",
                "gitfeat",
                "-f",
                "sub/Other.containerfile",
                &spec,
            ],
        )
        .ok();
        assert_eq!(
            cat(env, "gitfeat", &["/b.txt", "/a2.txt"]),
            "file b\nfile a on feature\n"
        );
        // The subdirectory is the context: nothing above it can be copied.
        build(env, &["-t", "gitout", "-f", "-", &spec])
            .stdin("FROM busybox\nCOPY ../README /\n")
            .fails(125);
        // A ref that does not exist: exit 125 naming the repository.
        build(
            env,
            &[
                "-t",
                "gitnone",
                &format!("{}#nosuch", server.url("repo.git")),
            ],
        )
        .fails(125)
        .assert_stderr_contains("repo.git");
    });
}
