//! One blob as it comes from a registry: its digest and size verified while it is read, a
//! connection lost in the middle resumed with a `Range` request (up to `--retry` times), and,
//! for layers, the bytes kept in a partial file that the next pull resumes from after a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::oci::digest::{Digest, Hasher};
use crate::registry::client::{Client, RegistryError};

/// Partial downloads older than this are not worth resuming.
const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// A kill point every this many bytes of a layer received.
#[cfg(feature = "failpoints")]
const KILL_EVERY: u64 = 1 << 20;

/// The blob being fetched and how to fetch it again.
pub struct BlobSource<'a> {
    pub client: &'a Client,
    pub repo: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
    /// Reopenings allowed after a connection breaks.
    pub retries: u32,
    pub retry_delay: Option<Duration>,
    /// Set when another part of the pull failed: stop early.
    pub cancel: &'a AtomicBool,
}

impl BlobSource<'_> {
    /// How errors name the blob.
    pub fn url(&self) -> String {
        format!(
            "{}/v2/{}/blobs/{}",
            self.client.host(),
            self.repo,
            self.digest
        )
    }
}

/// A verifying, resuming reader over one blob. Reading past the end yields an error when the
/// bytes do not match the digest or size; [`BlobReader::failure`] then says why in registry
/// terms (the extraction code only sees an `io::Error`).
pub struct BlobReader<'a> {
    source: BlobSource<'a>,
    /// Bytes delivered so far (from the partial file and the network).
    pos: u64,
    hasher: Hasher,
    body: Option<Box<dyn Read + Send>>,
    /// The partial file's bytes not yet delivered (resuming an earlier run).
    replay: Option<io::Take<File>>,
    /// Where received bytes are appended for a later run.
    partial: Option<Partial>,
    attempts: u32,
    verified: bool,
    failure: Option<RegistryError>,
    /// The last failure was the network's (worth resuming later), not bad data.
    transport_failed: bool,
    progress: Option<&'a indicatif::ProgressBar>,
    #[cfg(feature = "failpoints")]
    since_kill_point: u64,
}

/// A layer's partial file, locked so that two pulls never write it at once.
struct Partial {
    path: PathBuf,
    file: File,
}

impl<'a> BlobReader<'a> {
    /// A reader that fetches the whole blob (from the network only).
    pub fn new(source: BlobSource<'a>) -> BlobReader<'a> {
        BlobReader {
            source,
            pos: 0,
            hasher: Hasher::new(),
            body: None,
            replay: None,
            partial: None,
            attempts: 0,
            verified: false,
            failure: None,
            transport_failed: false,
            progress: None,
            #[cfg(feature = "failpoints")]
            since_kill_point: 0,
        }
    }

    /// Keeps the bytes in `dir/<hex>` and first replays what an earlier, interrupted pull
    /// left there. Without a usable partial file (locked by a concurrent pull, unwritable)
    /// the blob is simply fetched whole.
    pub fn with_partial(mut self, dir: &Path) -> BlobReader<'a> {
        let path = dir.join(self.source.digest.hex());
        let opened = fs::create_dir_all(dir).and_then(|()| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
        });
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!("no partial file {}: {e}", path.display());
                return self;
            }
        };
        if file.try_lock().is_err() {
            return self;
        }
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let prepared = if len > self.source.size {
            file.set_len(0)
        } else {
            Ok(())
        };
        let replay = match prepared.and_then(|()| file.try_clone()) {
            Ok(mut r) if len > 0 && len <= self.source.size => {
                let _ = r.rewind();
                Some(r.take(len))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!("partial file {}: {e}", path.display());
                return self;
            }
        };
        if let Some(r) = &replay {
            tracing::debug!(
                "resuming {} from {} bytes in {}",
                self.source.digest,
                r.limit(),
                path.display()
            );
        }
        self.replay = replay;
        self.partial = Some(Partial { path, file });
        self
    }

    pub fn with_progress(mut self, bar: Option<&'a indicatif::ProgressBar>) -> BlobReader<'a> {
        self.progress = bar;
        self
    }

    /// Why reading failed, in the registry's terms, if it was this reader's doing.
    pub fn take_failure(&mut self) -> Option<RegistryError> {
        self.failure.take()
    }

    /// Ends the download: a verified blob's partial file is removed, as is one holding bad
    /// data; one cut short by the network is kept for the next pull.
    pub fn finish(self) {
        if let Some(p) = self.partial
            && (self.verified || !self.transport_failed)
        {
            let _ = fs::remove_file(&p.path);
        }
    }

    fn fail(&mut self, error: RegistryError, transport: bool) -> io::Error {
        let text = error.to_string();
        self.transport_failed = transport;
        self.failure = Some(error);
        io::Error::other(text)
    }

    /// Opens (or reopens, after a break) the body at the current position.
    fn open(&mut self) -> Result<(), RegistryError> {
        let s = &self.source;
        let stream = s.client.get_blob(s.repo, s.digest, self.pos)?;
        let mut body = stream.body;
        // A registry that ignores `Range` starts from the beginning: skip what we have.
        if stream.offset < self.pos {
            let skip = self.pos - stream.offset;
            let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink()).map_err(|e| {
                RegistryError::Transport {
                    url: s.url(),
                    source: Box::new(e),
                }
            })?;
            if skipped != skip {
                return Err(RegistryError::Transport {
                    url: s.url(),
                    source: "the connection closed early".into(),
                });
            }
        } else if stream.offset > self.pos {
            return Err(RegistryError::Invalid {
                url: s.url(),
                what: format!("blob {}", s.digest),
                message: format!(
                    "asked for bytes from {}, the registry sent them from {}",
                    self.pos, stream.offset
                ),
            });
        }
        self.body = Some(body);
        Ok(())
    }

    /// Waits before reopening, as the client waits between attempts.
    fn back_off(&self) {
        let base = self
            .source
            .retry_delay
            .unwrap_or(Duration::from_millis(500));
        let factor = 1u32 << self.attempts.min(6).saturating_sub(1);
        std::thread::sleep(base * factor);
    }

    /// Reads from the network, reopening the connection after a break while attempts last.
    fn read_network(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.source.size - self.pos).min(buf.len() as u64) as usize;
        if want == 0 && self.body.is_none() {
            // Everything came from the partial file: nothing to ask the registry for.
            return Ok(0);
        }
        loop {
            if self.source.cancel.load(Ordering::Relaxed) {
                // Another blob was bad: this pull leaves nothing behind (only a download
                // the network cut short is kept for the next pull).
                self.transport_failed = false;
                // Not `Interrupted`, which `io::copy` would retry for ever.
                return Err(io::Error::other(
                    "cancelled: another part of the pull failed",
                ));
            }
            if self.body.is_none() {
                match self.open() {
                    Ok(()) => {}
                    Err(e) if e.is_retryable() && self.attempts < self.source.retries => {
                        self.attempts += 1;
                        self.back_off();
                        continue;
                    }
                    Err(e) => {
                        let transport = e.is_retryable();
                        return Err(self.fail(e, transport));
                    }
                }
            }
            let body = self.body.as_mut().expect("opened above");
            // One byte more than the blob should have, to notice a registry that sends more.
            let limit = if want == 0 { 1 } else { want };
            let res = body.read(&mut buf[..limit]);
            let broken = match res {
                Ok(0) if want == 0 => return Ok(0),
                Ok(_) if want == 0 => {
                    let url = self.source.url();
                    let digest = self.source.digest.clone();
                    let size = self.source.size;
                    return Err(self.fail(
                        RegistryError::Invalid {
                            url,
                            what: format!("blob {digest}"),
                            message: format!("more than the {size} bytes its descriptor says"),
                        },
                        false,
                    ));
                }
                Ok(0) => "the connection closed early".to_string(),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e.to_string(),
            };
            self.body = None;
            if self.attempts < self.source.retries {
                self.attempts += 1;
                tracing::info!(
                    "{}: {broken} after {} bytes; resuming",
                    self.source.url(),
                    self.pos
                );
                self.back_off();
                continue;
            }
            let url = self.source.url();
            let got = self.pos;
            let size = self.source.size;
            return Err(self.fail(
                RegistryError::Transport {
                    url,
                    source: format!("{broken} after {got} of {size} bytes").into(),
                },
                true,
            ));
        }
    }

    fn verify(&mut self) -> io::Result<()> {
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != *self.source.digest {
            let url = self.source.url();
            let expected = self.source.digest.clone();
            return Err(self.fail(
                RegistryError::DigestMismatch {
                    url,
                    what: format!("blob {expected}"),
                    expected,
                    actual,
                },
                false,
            ));
        }
        self.verified = true;
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        if let Some(replay) = &mut self.replay {
            let n = replay.read(buf)?;
            if n > 0 {
                self.hasher.update(&buf[..n]);
                self.pos += n as u64;
                if let Some(bar) = self.progress {
                    bar.inc(n as u64);
                }
                return Ok(n);
            }
            self.replay = None;
            if let Some(p) = &mut self.partial {
                p.file.seek(io::SeekFrom::End(0))?;
            }
        }
        let n = self.read_network(buf)?;
        if n == 0 {
            self.verify()?;
            return Ok(0);
        }
        if let Some(p) = &mut self.partial
            && let Err(e) = p.file.write_all(&buf[..n])
        {
            // The partial file only helps a later run; this one goes on without it.
            tracing::debug!("writing {}: {e}", p.path.display());
            let _ = fs::remove_file(&p.path);
            self.partial = None;
        }
        self.hasher.update(&buf[..n]);
        self.pos += n as u64;
        if let Some(bar) = self.progress {
            bar.inc(n as u64);
        }
        #[cfg(feature = "failpoints")]
        {
            self.since_kill_point += n as u64;
            if self.since_kill_point >= KILL_EVERY {
                self.since_kill_point = 0;
                crate::failpoint!("pull.layer.downloading");
            }
        }
        Ok(n)
    }
}

/// Reads a small blob (a config) whole, verified, at most `max` bytes.
pub fn read_small(source: BlobSource<'_>, max: u64) -> Result<Vec<u8>, RegistryError> {
    if source.size > max {
        return Err(RegistryError::Invalid {
            url: source.url(),
            what: format!("blob {}", source.digest),
            message: format!("{} bytes is too large for image metadata", source.size),
        });
    }
    let url = source.url();
    let mut reader = BlobReader::new(source);
    let mut data = Vec::new();
    match reader.read_to_end(&mut data) {
        Ok(_) => Ok(data),
        Err(e) => Err(reader.take_failure().unwrap_or(RegistryError::Transport {
            url,
            source: Box::new(e),
        })),
    }
}

/// Removes partial files older than a day (unless a pull is using them) and the directory
/// itself when nothing is left in it.
pub fn clean_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > PARTIAL_MAX_AGE);
        if !old {
            continue;
        }
        if let Ok(f) = File::open(&path)
            && f.try_lock().is_ok()
        {
            let _ = fs::remove_file(&path);
        }
    }
    remove_if_empty(dir);
}

/// Removes the partial directory when it holds nothing (so that the store's `tmp/` is empty
/// again and readers need not look for debris).
pub fn remove_if_empty(dir: &Path) {
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_partials_are_removed_new_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("partial");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("new"), b"x").unwrap();
        let old = dir.join("old");
        fs::write(&old, b"x").unwrap();
        let f = File::options().write(true).open(&old).unwrap();
        f.set_modified(SystemTime::now() - PARTIAL_MAX_AGE * 2)
            .unwrap();
        drop(f);
        clean_partials(&dir);
        assert!(dir.join("new").exists());
        assert!(!old.exists());
        fs::remove_file(dir.join("new")).unwrap();
        clean_partials(&dir);
        assert!(!dir.exists());
    }
}
