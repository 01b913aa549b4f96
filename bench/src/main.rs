//! `portcullis-bench`: the tools behind `scripts/bench.sh`.
//!
//! - `pki DIR --alg ecdsa|rsa`: the benchmark PKI (client root ← intermediate ← leaf, server
//!   root ← leaf), written as PEM files every server under test reads.
//! - `backend --listen ADDR`: the tiny backend all servers proxy to (`200 ok`).
//! - `load …`: a rustls load generator that presents a client certificate, offers X25519 only,
//!   checks every answer is a 200 and how each handshake went (full or resumed), and reports
//!   the rate per second of wall time and per CPU second of the server's processes.
//! - `crypto-bound`: what the cryptography alone allows per core for one full mTLS handshake.
//! - `apply`: how long 1,000 hostnames and 200 CA chains take to read, translate and apply.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod apply;
mod backend;
mod crypto;
mod load;
mod pki;
mod procfs;
mod response;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "portcullis-bench", about = "Benchmark tools for Portcullis")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the benchmark PKI into DIR.
    Pki {
        /// Output directory.
        dir: std::path::PathBuf,
        /// Key algorithm of every certificate: `ecdsa` (P-256) or `rsa` (2048).
        #[arg(long, default_value = "ecdsa")]
        alg: pki::Alg,
    },
    /// Serve `200 ok` over plain HTTP/1.1 on ADDR.
    Backend {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// Generate load and print one JSON line of results.
    Load(load::Args),
    /// Time reading, translating and applying a large configuration.
    Apply {
        /// Listeners, one hostname each.
        #[arg(long, default_value_t = 1000)]
        hostnames: usize,
        /// Client CA chains (one SslProfile and Secret each).
        #[arg(long, default_value_t = 200)]
        chains: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Measure the crypto bound of one full mTLS handshake, per core.
    CryptoBound {
        /// Key algorithm: `ecdsa` or `rsa`.
        #[arg(long, default_value = "ecdsa")]
        alg: pki::Alg,
        /// Seconds to measure each operation.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Pki { dir, alg } => pki::write(&dir, alg),
        Command::Backend { listen } => backend::run(listen),
        Command::Load(args) => load::run(&args),
        Command::CryptoBound { alg, seconds } => crypto::run(alg, seconds),
        Command::Apply {
            hostnames,
            chains,
            rounds,
        } => apply::run(hostnames, chains, rounds),
    }
}
