//! Helpers for the build's unit tests: tars built entry by entry, layers extracted from them,
//! a local HTTP server.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::archive::extract_layer;

/// One tar entry: (name, type, mode, uid, gid, content or link target).
pub struct E<'a>(
    pub &'a str,
    pub tar::EntryType,
    pub u32,
    pub u64,
    pub u64,
    pub &'a [u8],
);

pub fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for E(name, kind, mode, uid, gid, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_uid(*uid);
        h.set_gid(*gid);
        h.set_mtime(1_600_000_000);
        if kind.is_symlink() || kind.is_hard_link() {
            h.set_size(0);
            b.append_link(&mut h, name, std::str::from_utf8(data).unwrap())
                .unwrap();
        } else {
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// A layer directory (`dir/diff/` ...) extracted from `entries`.
pub fn layer(dir: &Path, entries: &[E<'_>]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    extract_layer(&tar(entries)[..], dir).unwrap();
    dir.to_path_buf()
}

/// What a test looks at in a written tar: name, type byte, mode, uid, gid, link name, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: String,
    pub data: Vec<u8>,
    pub mtime: u64,
}

pub fn entries(tar: &[u8]) -> Vec<Seen> {
    use std::io::Read;
    let mut a = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Seen {
            name,
            kind: h.entry_type().as_byte(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            link,
            data,
            mtime: h.mtime().unwrap(),
        });
    }
    out
}

/// `python3 -m http.server` serving `dir` on a free port, stopped when dropped.
pub struct Http {
    child: Child,
    pub port: u16,
}

impl Http {
    pub fn serve(dir: &Path) -> Http {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Http { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
