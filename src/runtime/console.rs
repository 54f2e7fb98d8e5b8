//! Passing a terminal's master from the container's init to its monitor: the init opens the
//! terminal in the container's own `/dev/pts` (so that `tty` names it there, as crun does
//! with its console socket) and sends the master over a unix socket (`SCM_RIGHTS`,
//! unix(7)).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Sends `fd` over the socket `to`.
pub fn send_fd(to: impl AsFd, fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !cmsg.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for a descriptor in the message"));
    }
    rustix::net::sendmsg(to, &[IoSlice::new(b"t")], &mut cmsg, SendFlags::empty())?;
    Ok(())
}

/// Receives a descriptor from the socket `from`; `None` when it was closed without one.
pub fn recv_fd(from: impl AsFd) -> io::Result<Option<OwnedFd>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let msg = rustix::net::recvmsg(
        from,
        &mut [IoSliceMut::new(&mut byte)],
        &mut cmsg,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if msg.bytes == 0 {
        return Ok(None);
    }
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m
            && let Some(fd) = fds.next()
        {
            return Ok(Some(fd));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_pipe_end_crosses_a_socket() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        send_fd(&a, w.as_fd()).unwrap();
        drop(w);
        let got = recv_fd(&b).unwrap().unwrap();
        std::fs::File::from(got).write_all(b"x").unwrap();
        let mut s = String::new();
        std::fs::File::from(OwnedFd::from(r))
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
        drop(a);
        assert!(recv_fd(&b).unwrap().is_none());
    }
}
