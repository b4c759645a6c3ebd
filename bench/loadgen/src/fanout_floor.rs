//! `pulse-fanout-floor`: the least an SSE server can do to send one event to
//! every client, as a yardstick for Pulse's fan-out on the same machine.
//!
//! It keeps every accepted stream in one list and, on each tick, writes one
//! pre-built chunk to each socket in a plain loop (split over `--writers`
//! threads): no runtime, no tasks, no wake-ups, no replay, no heartbeat.
//! What `pulse-loadgen` measures against it is what the kernel's loopback
//! TCP and the generator cost here, so a fan-out latency Pulse cannot reach
//! on this machine shows up here first. Not a server for anything else: a
//! client whose socket would block is dropped.

use clap::Parser;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser, Debug)]
#[command(
    name = "pulse-fanout-floor",
    about = "A bare SSE fan-out, to measure this machine's floor"
)]
struct Args {
    /// Where to listen (loopback only makes sense).
    #[arg(long, default_value = "127.0.0.1:3990")]
    addr: SocketAddr,
    /// Time between events.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// Threads that share each event's writes.
    #[arg(long, default_value_t = 2)]
    writers: usize,
}

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";

type Clients = Arc<Mutex<Vec<TcpStream>>>;

fn main() {
    let args = Args::parse();
    let listener = TcpListener::bind(args.addr).expect("bind");
    let clients = Clients::default();
    let accepted = clients.clone();
    std::thread::spawn(move || accept_streams(&listener, &accepted));

    let start = Instant::now();
    for id in 1u32.. {
        let due = start + args.every * id;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let frame = event_chunk(id.into());
        write_to_all(
            &mut clients.lock().expect("client list"),
            &frame,
            args.writers,
        );
    }
}

/// Answers each connection's request with the stream's head and keeps it.
fn accept_streams(listener: &TcpListener, clients: &Clients) {
    for stream in listener.incoming().flatten() {
        if let Ok(stream) = answer(stream) {
            clients.lock().expect("client list").push(stream);
        }
    }
}

fn answer(mut stream: TcpStream) -> std::io::Result<TcpStream> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    stream.write_all(HEAD)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// One SSE `message` with its publish time, as one HTTP/1.1 chunk.
fn event_chunk(id: u64) -> Vec<u8> {
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let event = format!("id: {id}\nevent: message\ndata: {{\"ts_us\":{now_us}}}\n\n");
    let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
    chunk.extend_from_slice(event.as_bytes());
    chunk.extend_from_slice(b"\r\n");
    chunk
}

/// Writes `frame` to every stream, `writers` slices in parallel, and keeps
/// the streams that took all of it.
fn write_to_all(streams: &mut Vec<TcpStream>, frame: &[u8], writers: usize) {
    let per_writer = streams.len().div_ceil(writers.max(1)).max(1);
    let took_all: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .chunks(per_writer)
            .map(|slice| {
                scope.spawn(move || {
                    slice
                        .iter()
                        .map(|mut stream| matches!(stream.write(frame), Ok(n) if n == frame.len()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("writer thread"))
            .collect()
    });
    let mut took_all = took_all.into_iter();
    streams.retain(|_| took_all.next().unwrap_or(false));
}
