//! What one client may cost, decided in one place and applied by every way
//! in: the accept loop asks `Admission` before it spends anything on a
//! connection, both stream paths write through a `StallGuard`, the
//! deadlines for a request's head are read here by the sorter and by hyper
//! (`connections`), and every body passes `bodies`. Nothing else re-derives
//! these numbers.
//!
//! Why each limit exists: a process has a fixed number of file descriptors
//! (20,000 on this machine, hard), and the checks need some of them. A
//! client that opens connections and never finishes a request, or a stream
//! that never reads, must run into a limit of its own long before the
//! checks run out of sockets and report a false outage.

mod admission;
pub(crate) mod bodies;
mod stall;

pub(crate) use admission::{Admission, Admitted, Refusal};
pub(crate) use bodies::{Bodies, Deadline};
pub(crate) use stall::StallGuard;

use std::time::Duration;

/// File descriptors kept back from clients for everything else the process
/// opens: up to 64 checks at once (one or two sockets each), the history
/// database and its journal, the config watcher, host probes reading
/// `/proc`, the runtime's own descriptors, and the listener.
pub(crate) const RESERVED_DESCRIPTORS: usize = 512;

/// A request head larger than this is refused (431 from the sorter, which
/// reads every first head whole; hyper closes a later one). A browser's is
/// well under 8 KiB; hyper's smallest buffer is 8 KiB.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Header fields in one request head, on both.
pub(crate) const MAX_FIELDS: usize = 100;

/// The kernel send buffer of a stream's socket, as asked of the kernel
/// (which doubles it for its bookkeeping). Left to autotuning, it grows to
/// 4 MiB on this machine: a client that stops reading would park that much
/// kernel memory, and every write would still succeed, so the stall limit
/// would never see it. Status events are small: this holds minutes of them
/// at a busy dashboard's rate.
pub(crate) const STREAM_SEND_BUFFER: usize = 64 * 1024;

/// Caps the kernel send buffer of a connection that will carry a stream.
pub(crate) fn bound_send_buffer(socket: &tokio::net::TcpStream) {
    if let Err(error) = socket2::SockRef::from(socket).set_send_buffer_size(STREAM_SEND_BUFFER) {
        tracing::debug!(%error, "could not cap a stream's send buffer");
    }
}

/// The limits in force, from the flags (see `settings`).
#[derive(Clone, Debug)]
pub struct Limits {
    /// A new connection that sends nothing for this long is closed.
    pub first_byte: Duration,
    /// A request's head and body must have arrived this long after the
    /// connection was accepted (a later request on the same connection:
    /// its head this long after hyper began to wait for it, and its body
    /// this long after the head).
    pub request_head: Duration,
    /// A client that accepts no byte of what it is sent for this long is
    /// disconnected.
    pub stall: Duration,
    /// Connections open at once from one address (an IPv6 /64 counts as one).
    pub per_address: usize,
    /// Connections open at once in all.
    pub connections: usize,
}

/// The most connections this process can hold and still have
/// `RESERVED_DESCRIPTORS` for its own work: its open-file limit (raised to
/// the hard limit first, as most servers do) less the reserve, or half the
/// limit when it is so small that the reserve would leave clients nothing. A larger
/// `requested` is lowered to it, with a warning; it is the one number that
/// keeps a crowd of clients from taking the checks' sockets.
pub(crate) fn connection_budget(requested: Option<usize>) -> usize {
    let descriptors = raise_open_file_limit();
    let reserve = RESERVED_DESCRIPTORS.min(descriptors / 2);
    let budget = descriptors.saturating_sub(reserve).max(1);
    match requested {
        Some(wanted) if wanted > budget => {
            tracing::warn!(
                wanted,
                budget,
                descriptors,
                "--max-connections is above what the open-file limit allows; using the lower figure"
            );
            budget
        }
        Some(wanted) => wanted.max(1),
        None => budget,
    }
}

/// Raises the soft open-file limit to the hard one and returns it.
fn raise_open_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}
