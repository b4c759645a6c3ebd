//! Pulse's own faults. A probe that fails because Pulse itself ran out of
//! something (file descriptors, memory, socket buffers, local ports) has
//! learnt nothing about its target, so the target must not be reported
//! down for it. Every probe kind hands its error to `Finding::failed`,
//! which asks this module; a fault found here makes the result "Pulse could
//! not check this" (`unknown`), which the history leaves out of uptime.

use std::error::Error;
use std::fmt;
use std::io;

/// What Pulse's side of a probe ran out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocalFault {
    /// EMFILE: this process's open-file limit.
    OpenFiles,
    /// ENFILE: the whole machine's open-file table.
    SystemOpenFiles,
    /// ENOBUFS: kernel memory for sockets.
    BufferSpace,
    /// ENOMEM, or an allocation that failed.
    Memory,
    /// EADDRNOTAVAIL: no local port (or address) left to connect from.
    LocalAddress,
}

impl LocalFault {
    /// The local fault anywhere in `error`'s chain of causes, if any.
    /// Libraries wrap the operating system's error (reqwest in hyper in an
    /// `io::Error` in …), so the whole chain is walked.
    pub(crate) fn find_in(error: &(dyn Error + 'static)) -> Option<LocalFault> {
        let mut next = Some(error);
        while let Some(error) = next {
            next = match error.downcast_ref::<io::Error>() {
                Some(io) => {
                    if let Some(fault) = LocalFault::of_io(io) {
                        return Some(fault);
                    }
                    // An `io::Error`'s `source` skips the error it wraps
                    // and goes straight to that one's source: step into
                    // the wrapped one instead, which leads on to the same.
                    io.get_ref().map(|inner| inner as &(dyn Error + 'static))
                }
                None => error.source(),
            };
        }
        None
    }

    fn of_io(error: &io::Error) -> Option<LocalFault> {
        if error.kind() == io::ErrorKind::OutOfMemory {
            return Some(LocalFault::Memory);
        }
        match error.raw_os_error()? {
            libc::EMFILE => Some(LocalFault::OpenFiles),
            libc::ENFILE => Some(LocalFault::SystemOpenFiles),
            libc::ENOBUFS => Some(LocalFault::BufferSpace),
            libc::ENOMEM => Some(LocalFault::Memory),
            libc::EADDRNOTAVAIL => Some(LocalFault::LocalAddress),
            _ => None,
        }
    }
}

impl fmt::Display for LocalFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocalFault::OpenFiles => "too many open files in Pulse",
            LocalFault::SystemOpenFiles => "too many open files on Pulse's machine",
            LocalFault::BufferSpace => "no socket buffer space left on Pulse's machine",
            LocalFault::Memory => "Pulse is out of memory",
            LocalFault::LocalAddress => "no local address or port left for Pulse to connect from",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    /// An error that wraps `cause` as its source, as hyper's and reqwest's do.
    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("request failed")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn each_local_resource_error_is_pulses_own() {
        for (code, fault) in [
            (libc::EMFILE, LocalFault::OpenFiles),
            (libc::ENFILE, LocalFault::SystemOpenFiles),
            (libc::ENOBUFS, LocalFault::BufferSpace),
            (libc::ENOMEM, LocalFault::Memory),
            (libc::EADDRNOTAVAIL, LocalFault::LocalAddress),
        ] {
            assert_eq!(LocalFault::find_in(&os(code)), Some(fault), "errno {code}");
        }
        let failed_allocation = io::Error::from(io::ErrorKind::OutOfMemory);
        assert_eq!(
            LocalFault::find_in(&failed_allocation),
            Some(LocalFault::Memory)
        );
    }

    #[test]
    fn the_targets_faults_are_not_pulses() {
        for code in [
            libc::ECONNREFUSED,
            libc::ECONNRESET,
            libc::ETIMEDOUT,
            libc::EHOSTUNREACH,
            libc::ENETUNREACH,
        ] {
            assert_eq!(LocalFault::find_in(&os(code)), None, "errno {code}");
        }
        let plain = io::Error::other("invalid HTTP version parsed");
        assert_eq!(LocalFault::find_in(&plain), None);
    }

    #[test]
    fn a_fault_is_found_however_deep_it_is_wrapped() {
        // As reqwest reports it: its error, hyper's, then the OS error.
        let chained = Wrapper(Box::new(Wrapper(Box::new(os(libc::EMFILE)))));
        assert_eq!(LocalFault::find_in(&chained), Some(LocalFault::OpenFiles));
        // Inside an `io::Error` that wraps another error (as tokio-rustls
        // and custom connectors do), whose `source` skips the wrapped one.
        let inside_io = io::Error::other(Wrapper(Box::new(os(libc::ENOBUFS))));
        assert_eq!(
            LocalFault::find_in(&inside_io),
            Some(LocalFault::BufferSpace)
        );
        let io_in_io = io::Error::other(os(libc::EADDRNOTAVAIL));
        assert_eq!(
            LocalFault::find_in(&Wrapper(Box::new(io_in_io))),
            Some(LocalFault::LocalAddress)
        );
        let harmless = Wrapper(Box::new(os(libc::ECONNREFUSED)));
        assert_eq!(LocalFault::find_in(&harmless), None);
    }

    #[test]
    fn a_fault_reads_as_pulses_not_the_targets() {
        assert_eq!(
            LocalFault::OpenFiles.to_string(),
            "too many open files in Pulse"
        );
    }
}
