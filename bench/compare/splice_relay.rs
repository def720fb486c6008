//! A bare relay: TCP passed on by the kernel — `splice` from one socket
//! into a pipe and from the pipe into the other socket, no byte copied
//! through user space, no framing, no encryption, no accounting. The
//! tunnel rows chain two, as a tunnel is two hops (`gatehouse tunnel` →
//! the gateway → the target): what two hops cost on these 2 cores
//! whatever carries them, as the bare pty shows for the terminal rows.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};

use nix::fcntl::{FcntlArg, SpliceFFlags, fcntl, splice};

/// The most one `splice` moves, and the pipe's size.
const CHUNK: usize = 1 << 20;

/// A relay to `upstream` on a free loopback port: each accepted connection
/// gets one to `upstream` and a thread each way.
pub fn start(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || relay(client, upstream));
        }
    });
    addr
}

fn relay(client: TcpStream, upstream: SocketAddr) {
    let Ok(target) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_too), Ok(target_too)) = (client.try_clone(), target.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pump(&client_too, &target_too));
    pump(&target, &client);
    let _ = up.join();
}

/// Moves `from`'s bytes into `to` through a pipe until `from` ends, then
/// ends `to`'s sending side.
fn pump(from: &TcpStream, to: &TcpStream) {
    let Ok((pipe_out, pipe_in)) = nix::unistd::pipe() else {
        return;
    };
    // A bigger pipe than the default 64 KiB: fewer calls per byte.
    let _ = fcntl(&pipe_in, FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
    let flags = SpliceFFlags::SPLICE_F_MOVE;
    while let Ok(n @ 1..) = splice(from, None, &pipe_in, None, CHUNK, flags) {
        let mut left = n;
        while left > 0 {
            match splice(&pipe_out, None, to, None, left, flags) {
                Ok(m @ 1..) => left -= m,
                _ => return,
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
