//! A TCP proxy in front of a plain-HTTP registry that injects faults into blob downloads.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What a [`FaultProxy`] does to the traffic it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards everything unchanged.
    PassThrough,
    /// The response to a `GET .../blobs/sha256:...` (200 or 206) longer than `bytes` has its
    /// connection closed after `bytes` bytes of body, `times` times; after that, passes
    /// through (so a resumed or retried download succeeds).
    CloseBlobAfter { bytes: u64, times: u32 },
    /// Like `CloseBlobAfter`, but instead of closing, the connection then stays silent (a
    /// stalled download, for read time-outs) until the client gives up or the proxy drops.
    StallBlobAfter { bytes: u64, times: u32 },
    /// A `GET .../blobs/sha256:...` is answered `status` (e.g. 503 or 429) by the proxy,
    /// with `Retry-After: <retry_after>` when given, `times` times; then passes through.
    FailBlob {
        status: u16,
        times: u32,
        retry_after: Option<u32>,
    },
    /// Every blob download (body) trickles at about `bytes_per_sec`: a transfer slow enough
    /// to interrupt (`kill -9`) in the middle or to watch its progress.
    SlowBlobs { bytes_per_sec: u64 },
    /// Accepts connections and never answers (nor closes them until the proxy drops).
    Hang,
}

/// A TCP proxy on `127.0.0.1:<free port>` in front of a plain-HTTP server, injecting a
/// [`Fault`]. Each request goes upstream on a connection of its own (the proxy adds
/// `Connection: close`), so every request is seen and judged. Stops on drop.
pub struct FaultProxy {
    port: u16,
    state: Arc<ProxyState>,
    accept: Option<thread::JoinHandle<()>>,
}

struct ProxyState {
    upstream: String,
    fault: Mutex<Fault>,
    cuts: AtomicU32,
    stop: AtomicBool,
    /// The connections `Hang` holds open, closed when the proxy stops.
    conns: Mutex<Vec<TcpStream>>,
    /// Each request's head (request line and headers), in arrival order.
    requests: Mutex<Vec<String>>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(ProxyState {
            upstream: upstream.to_string(),
            fault: Mutex::new(fault),
            cuts: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if *st.fault.lock().unwrap() == Fault::Hang {
                    st.conns.lock().unwrap().push(conn); // kept open, never read
                    continue;
                }
                let st = st.clone();
                thread::spawn(move || {
                    let _ = proxy_one(&st, conn);
                });
            }
        });
        FaultProxy {
            port,
            state,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT` of the proxy: use it in image references instead of the registry's.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PROXYPORT/<repo_tag>`.
    pub fn image_ref(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// Changes the fault for connections from now on.
    pub fn set_fault(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// How many blob downloads were cut, stalled or failed so far.
    pub fn cuts(&self) -> u32 {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// The heads (request line and headers) of the requests seen so far, e.g. to check that
    /// a resumed download sent `Range: bytes=N-`.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
        for c in self.state.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Forwards `first` and then the rest of `from` at about `rate` bytes a second, in pieces of
/// a tenth of a second's worth, until `from` ends or the proxy stops.
fn throttled_copy(
    first: &[u8],
    from: &mut TcpStream,
    to: &mut TcpStream,
    rate: u64,
    st: &ProxyState,
) -> std::io::Result<()> {
    let piece = (rate / 10).clamp(1, 64 * 1024) as usize;
    let pause = Duration::from_secs_f64(piece as f64 / rate as f64);
    for chunk in first.chunks(piece) {
        to.write_all(chunk)?;
        thread::sleep(pause);
    }
    let mut buf = vec![0u8; piece];
    while !st.stop.load(Ordering::SeqCst) {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])?;
        thread::sleep(pause);
    }
    Ok(())
}

/// Reads up to the end of an HTTP head (`\r\n\r\n`); returns (head, bytes read past it).
fn read_head(r: &mut impl Read) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn proxy_one(st: &ProxyState, mut client: TcpStream) -> std::io::Result<()> {
    // Not HTTP (a TLS ClientHello: clients such as skopeo try HTTPS first on an insecure
    // registry): pass it through untouched, so the registry refuses it as quickly as
    // without the proxy, instead of the client waiting for its TLS handshake time-out.
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 {
        return Ok(());
    }
    if !first[0].is_ascii_uppercase() {
        let mut upstream = TcpStream::connect(&st.upstream)?;
        let (mut c_read, mut u_write) = (client.try_clone()?, upstream.try_clone()?);
        let t = thread::spawn(move || {
            let _ = std::io::copy(&mut c_read, &mut u_write);
        });
        let _ = std::io::copy(&mut upstream, &mut client);
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        let _ = t.join();
        return Ok(());
    }
    let Some((head, rest)) = read_head(&mut client)? else {
        return Ok(());
    };
    st.requests
        .lock()
        .unwrap()
        .push(head.trim_end().to_string());
    let request_line = head.lines().next().unwrap_or_default().to_string();
    // One request per upstream connection: drop the client's connection preferences.
    let mut forwarded = String::new();
    for (i, line) in head.trim_end().split("\r\n").enumerate() {
        let name = line.split(':').next().unwrap_or_default().trim();
        if i > 0
            && ["connection", "keep-alive", "proxy-connection"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");

    let mut words = request_line.split(' ');
    let is_blob_get =
        words.next() == Some("GET") && words.next().is_some_and(|p| p.contains("/blobs/sha256:"));
    if is_blob_get {
        let mut fault = st.fault.lock().unwrap();
        if let Fault::FailBlob {
            status,
            times,
            retry_after,
        } = *fault
            && times > 0
        {
            *fault = Fault::FailBlob {
                status,
                times: times - 1,
                retry_after,
            };
            drop(fault);
            st.cuts.fetch_add(1, Ordering::SeqCst);
            let retry = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let body =
                r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}"#;
            let answer = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes())?;
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
    let mut upstream = TcpStream::connect(&st.upstream)?;
    upstream.write_all(forwarded.as_bytes())?;
    upstream.write_all(&rest)?;
    let (mut c_read, mut u_write) = (client.try_clone()?, upstream.try_clone()?);
    let body = thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut u_write);
    });

    let result = (|| {
        let Some((resp_head, resp_rest)) = read_head(&mut upstream)? else {
            return Ok(());
        };
        let status = resp_head.split(' ').nth(1).unwrap_or_default();
        let length: Option<u64> = header(&resp_head, "content-length").and_then(|v| v.parse().ok());
        // (bytes to forward, stall instead of closing)
        let limit = if is_blob_get && (status == "200" || status == "206") {
            let mut fault = st.fault.lock().unwrap();
            let longer = |bytes: u64| length.is_none_or(|l| l > bytes);
            match *fault {
                Fault::CloseBlobAfter { bytes, times } if times > 0 && longer(bytes) => {
                    *fault = Fault::CloseBlobAfter {
                        bytes,
                        times: times - 1,
                    };
                    Some((bytes, false))
                }
                Fault::StallBlobAfter { bytes, times } if times > 0 && longer(bytes) => {
                    *fault = Fault::StallBlobAfter {
                        bytes,
                        times: times - 1,
                    };
                    Some((bytes, true))
                }
                _ => None,
            }
        } else {
            None
        };
        client.write_all(resp_head.as_bytes())?;
        match limit {
            None => {
                let slow = match *st.fault.lock().unwrap() {
                    Fault::SlowBlobs { bytes_per_sec } if is_blob_get => Some(bytes_per_sec.max(1)),
                    _ => None,
                };
                match slow {
                    None => {
                        client.write_all(&resp_rest)?;
                        std::io::copy(&mut upstream, &mut client)?;
                    }
                    Some(rate) => throttled_copy(&resp_rest, &mut upstream, &mut client, rate, st)?,
                }
            }
            Some((limit, stall)) => {
                st.cuts.fetch_add(1, Ordering::SeqCst);
                let mut left = limit;
                let first = resp_rest.len().min(left as usize);
                client.write_all(&resp_rest[..first])?;
                left -= first as u64;
                let mut buf = [0u8; 8192];
                while left > 0 {
                    let n = upstream.read(&mut buf[..(left.min(8192)) as usize])?;
                    if n == 0 {
                        break;
                    }
                    client.write_all(&buf[..n])?;
                    left -= n as u64;
                }
                client.flush()?;
                // The client closing its end ends the request-body copier.
                while stall && !body.is_finished() && !st.stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Ok(())
    })();
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = body.join();
    result
}
