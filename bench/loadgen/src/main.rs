//! `kwasm-loadgen`: the benchmark's client, the same for every server under
//! test (native, kwasm in the kernel, Wasmtime, the in-kernel reference).
//!
//!     kwasm-loadgen echo --addr A --conns N --size S --mode pingpong|stream --duration-ms D [--warmup-ms W] [--threads T]
//!     kwasm-loadgen http --addr A --conns N [--close] --duration-ms D [--warmup-ms W] [--threads T]
//!
//! Every response is verified; a mismatch, an unexpected close, a failed
//! connect, or no answer at all during the whole measured window is
//! reported on stderr (naming the connection), counted in `errors`, and
//! makes the exit status 1. Exactly one JSON line goes to
//! stdout whatever happened:
//!
//!     {"workload":..,"conns":N,"size":S,"duration_s":F,"ops":N,"ops_per_s":F,"bytes":N,
//!      "mib_per_s":F,"lat_us_p50":F,"lat_us_p99":F,"lat_us_mean":F,"errors":N}
//!
//! `bytes` is the payload of the counted operations: the message for echo,
//! the whole response (head and body) for HTTP; `size` is 0 for HTTP.

mod driver;
mod echo;
mod histogram;
mod http;
mod pattern;
mod sys;

use clap::{Args, Parser, Subcommand, ValueEnum};
use driver::{Config, Totals, Workload};
use std::net::SocketAddr;
use std::time::Duration;

/// Drive echo or HTTP servers over many TCP connections and verify every response
#[derive(Parser)]
#[command(name = "kwasm-loadgen")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Echo: messages of `--size` bytes, echoed back byte for byte
    Echo {
        #[command(flatten)]
        common: Common,
        /// Bytes per message
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        size: u32,
        /// pingpong: one message in flight per connection, an op is a round
        /// trip; stream: up to 4 in flight, an op is a message fully echoed
        #[arg(long, value_enum)]
        mode: Mode,
    },
    /// HTTP/1.1: `GET /`, the response must be 200 with body `Hello, world!`
    Http {
        #[command(flatten)]
        common: Common,
        /// Send `Connection: close`, read to EOF and reconnect (an op includes the connect)
        #[arg(long)]
        close: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Pingpong,
    Stream,
}

#[derive(Args)]
struct Common {
    /// The server's address
    #[arg(long)]
    addr: SocketAddr,
    /// Connections, all open at once
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    conns: u32,
    /// Length of the measured window
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    duration_ms: u64,
    /// Time before the window (operations then are not counted)
    #[arg(long, default_value_t = 300)]
    warmup_ms: u64,
    /// Threads to split the connections over (each runs its own epoll loop)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    threads: u32,
}

fn config(cli: Cli) -> Config {
    let (common, workload, size) = match cli.cmd {
        Cmd::Echo {
            common,
            size,
            mode: Mode::Pingpong,
        } => (common, Workload::EchoPingpong, size as usize),
        Cmd::Echo {
            common,
            size,
            mode: Mode::Stream,
        } => (common, Workload::EchoStream, size as usize),
        Cmd::Http { common, close: false } => (common, Workload::HttpKeepalive, 0),
        Cmd::Http { common, close: true } => (common, Workload::HttpClose, 0),
    };
    Config {
        workload,
        addr: common.addr,
        conns: common.conns as usize,
        size,
        warmup: Duration::from_millis(common.warmup_ms),
        duration: Duration::from_millis(common.duration_ms),
        threads: common.threads as usize,
    }
}

fn json(cfg: &Config, t: &Totals) -> String {
    let secs = t.window.as_secs_f64();
    let per_s = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
    let us = |ns: f64| ns / 1000.0;
    let s = &t.stats;
    format!(
        concat!(
            "{{\"workload\":\"{}\",\"conns\":{},\"size\":{},\"duration_s\":{:.6},\"ops\":{},\"ops_per_s\":{:.3},",
            "\"bytes\":{},\"mib_per_s\":{:.3},\"lat_us_p50\":{:.3},\"lat_us_p99\":{:.3},\"lat_us_mean\":{:.3},",
            "\"errors\":{}}}"
        ),
        cfg.workload.name(),
        cfg.conns,
        cfg.size,
        secs,
        s.ops,
        per_s(s.ops as f64),
        s.bytes,
        per_s(s.bytes as f64) / (1024.0 * 1024.0),
        us(s.latency.quantile(0.50)),
        us(s.latency.quantile(0.99)),
        us(s.latency.mean()),
        t.errors
    )
}

fn main() {
    let cfg = config(Cli::parse());
    if let Err(e) = sys::raise_nofile_limit() {
        eprintln!("kwasm-loadgen: cannot raise the open-file limit: {e}");
    }
    let totals = driver::run(&cfg);
    println!("{}", json(&cfg, &totals));
    std::process::exit(if totals.errors > 0 { 1 } else { 0 });
}
