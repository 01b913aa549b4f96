//! Hostile clients against `portcullis run` with tight limits: a client that never starts its
//! handshake, one that drips its headers (slowloris), one that goes idle, oversized and
//! countless headers, more connections than allowed, HTTP/2 streams, and absurd client
//! certificate chains. Each is cut off by its limit and counted in /metrics, and a good client
//! still gets in afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_tests::gateway::Standalone;
use portcullis_tests::pki::rcgen;
use rustls::pki_types::ServerName;

/// The limits under test, far below the defaults so each is reached in seconds.
#[path = "gateway_limits/env.rs"]
mod env;

use env::*;

#[test]
fn slow_and_idle_clients_are_cut_off_by_their_timeouts() {
    let env = Env::start();

    // Connected, and never a ClientHello: closed by the handshake timeout (2 s).
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", env.port)).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10));
    let waited = started.elapsed();
    assert!(closed, "a connection without a ClientHello stayed open");
    assert!(
        waited >= Duration::from_millis(1500),
        "closed after {waited:?}, before the handshake timeout"
    );

    // Slowloris: a valid client sends a header value one byte every 150 ms and never ends its
    // headers. The bytes keep coming (so it is never idle); the header timeout (3 s) ends it.
    let mut slow = env.connect(&env.good());
    slow.sock
        .set_read_timeout(Some(Duration::from_millis(150)))
        .expect("timeout");
    let started = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: secure.example\r\nX-Drip: ")
        .expect("request line");
    let mut cut = false;
    for _ in 0..60 {
        if slow.write_all(b"a").is_err() {
            cut = true;
            break;
        }
        let (_, closed) = read_until_closed(&mut slow, Duration::from_millis(150));
        if closed {
            cut = true;
            break;
        }
    }
    let waited = started.elapsed();
    assert!(cut, "a client dripping headers for 9 s was never cut off");
    assert!(
        waited >= Duration::from_millis(2500),
        "cut after {waited:?}, before the header timeout"
    );
    assert!(env.closed_by("HeaderTimeout") >= 1.0);

    // Idle: one complete request on a kept-alive connection, then nothing. The response
    // arrives, and the connection is closed after the idle timeout (2 s), before the header
    // timeout (3 s) would.
    let mut idle = env.connect(&env.good());
    idle.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    idle.write_all(b"GET / HTTP/1.1\r\nHost: secure.example\r\n\r\n")
        .expect("request");
    let started = Instant::now();
    let (response, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    let waited = started.elapsed();
    assert!(
        String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    assert!(closed, "an idle connection stayed open");
    assert!(
        waited >= Duration::from_millis(1900),
        "closed after {waited:?}"
    );
    assert!(env.closed_by("IdleTimeout") >= 1.0);

    // A good client is served as before.
    assert_eq!(env.get(&env.good()), Ok(200));
}

#[test]
fn oversized_requests_get_431_and_excess_connections_are_closed() {
    let env = Env::start();
    let good = env.good();

    // Headers beyond 8 KiB, or more than 20 of them: 431, and the next request is served.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: secure.example\r\nX-Big: {}\r\n",
        "a".repeat(10_000)
    );
    assert_eq!(env.request(&good, &big), Ok(431));
    let many = |n: usize| {
        let mut head = String::from("GET / HTTP/1.1\r\nHost: secure.example\r\n");
        for i in 0..n {
            head.push_str(&format!("X-Many-{i}: 1\r\n"));
        }
        head
    };
    assert_eq!(env.request(&good, &many(25)), Ok(431));
    assert_eq!(env.request(&good, &many(15)), Ok(200));
    assert!(env.closed_by("HeadersTooLarge") >= 2.0);

    // Six connections (the limit) that send nothing yet; the seventh is closed at once.
    assert!(
        Standalone::eventually(Duration::from_secs(10), || env
            .gw
            .metric("portcullis_open_connections")
            == 0.0),
        "connections of the requests above are still open"
    );
    let held: Vec<TcpStream> = (0..6)
        .map(|_| TcpStream::connect(("127.0.0.1", env.port)).expect("connect"))
        .collect();
    assert!(
        Standalone::eventually(Duration::from_secs(10), || env
            .gw
            .metric("portcullis_open_connections")
            == 6.0),
        "the six connections were not all accepted"
    );
    let mut excess = TcpStream::connect(("127.0.0.1", env.port)).expect("connect");
    excess
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let (_, closed) = read_until_closed(&mut excess, Duration::from_secs(10));
    assert!(closed, "the connection over the limit stayed open");
    assert!(env.closed_by("ConnectionLimit") >= 1.0);

    // Once they close, a good client is served.
    drop(held);
    assert!(
        Standalone::eventually(Duration::from_secs(10), || env.get(&good) == Ok(200)),
        "a good client was not served after the held connections closed"
    );
}

#[test]
fn http2_announces_the_stream_limit() {
    let env = Env::start();
    let mut config = (*env.good()).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, limit) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", env.port))
            .await
            .expect("connect");
        let name = ServerName::try_from("secure.example").expect("name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("handshake");
        let (client, mut conn) = h2::client::handshake(tls).await.expect("h2 preface");
        let request = http::Request::get(format!("https://secure.example:{}/", env.port))
            .body(())
            .expect("request");
        let (response, _) = client
            .ready()
            .await
            .expect("ready")
            .send_request(request, true)
            .expect("send");
        // The response comes after the server's SETTINGS, which the connection has read.
        let response = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                r = response => r.expect("response"),
                r = &mut conn => panic!("connection ended first: {r:?}"),
            }
        })
        .await
        .expect("a response within 10 s");
        (
            response.status().as_u16(),
            conn.max_concurrent_send_streams(),
        )
    });
    assert_eq!((status, limit), (200, 7));
}

#[test]
fn absurd_client_chains_are_refused_before_chain_building() {
    let env = Env::start();

    // 100 certificates (the leaf, then its intermediate 99 times): refused by count, in the
    // handshake (no session ticket carrying the chain back to the client).
    let long = env.config(&[&env.int; 99]);
    assert!(env.get(&long).is_err(), "a 100-certificate chain got in");
    assert_eq!(env.refused("ChainTooLong"), 1.0);

    // Leaf, intermediate and root (three) are fine.
    let full = env.config(&[&env.int, &env.root]);
    assert_eq!(env.get(&full), Ok(200));

    // A 1 MB certificate: rustls refuses the handshake message from its length, before
    // reading or parsing it.
    let huge = env.int.intermediate_with("Huge", |p| {
        p.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 55555, 1],
                vec![0x41; 1 << 20],
            ));
    });
    assert!(huge.der().len() > 1 << 20);
    let huge = presenting(&env.server_root, huge.der(), huge.key_pem());
    assert!(env.get(&huge).is_err(), "a 1 MB certificate was accepted");
    assert_eq!(env.refused("MessageTooLarge"), 1.0);

    assert_eq!(env.get(&env.good()), Ok(200));
}

/// The admin port (probes, metrics) has its own fixed bounds: 64 connections at once (more
/// are closed at once) and 10 s to send request headers.
#[test]
fn the_admin_port_bounds_slow_and_excess_clients() {
    let env = Env::start();
    let connect = || {
        let s = TcpStream::connect(env.gw.admin).expect("connect admin");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        s
    };
    let mut held: Vec<TcpStream> = (0..dataplane::admin::MAX_CONNECTIONS)
        .map(|_| connect())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut connect(), Duration::from_secs(20));
    assert!(closed, "a connection over the admin limit stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}: by the header timeout, not the limit",
        started.elapsed()
    );
    // The held ones send nothing: the header timeout closes them.
    let (_, closed) = read_until_closed(&mut held[0], Duration::from_secs(20));
    assert!(closed, "a silent admin connection stayed open");
    drop(held);
    assert!(
        Standalone::eventually(Duration::from_secs(10), || env
            .gw
            .metric("portcullis_open_connections")
            == 0.0
            && env.gw.metric("portcullis_config_version") >= 1.0),
        "the admin port does not answer after the flood"
    );
}

/// A TLS passthrough connection is closed after the idle timeout (2 s here) with no bytes
/// moving either way, and kept while they move, however slowly.
#[test]
fn an_idle_passthrough_connection_is_closed_and_a_slow_one_is_not() {
    let env = Env::start();
    let good = env.good();

    let mut idle = env.connect_to(env.tcp_port, &good);
    idle.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(closed, "an idle passthrough connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert!(env.closed_by("IdleTimeout") >= 1.0);

    // A body dripped one byte every 300 ms for 3 s: bytes move, so the relay stays.
    let mut slow = env.connect_to(env.tcp_port, &good);
    slow.write_all(b"POST /upload HTTP/1.1\r\nHost: secure.example\r\nContent-Length: 10\r\nConnection: close\r\n\r\n")
        .expect("head");
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        slow.write_all(b"x").expect("a byte of the body");
    }
    let mut response = Vec::new();
    let _ = slow.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
