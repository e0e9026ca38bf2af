//! HL7 v2 throughput, measured (not asserted): `cargo bench --bench hl7`.
//!
//! 1. Parse throughput of the ER7 parser in MB/s over the test fixtures (every common event).
//! 2. MLLP round trips per second on one connection, in one run, against: the sandbox listener
//!    (parse, structure check, FHIR store update, ACK), the python-hl7 peer when
//!    EMR_HARNESS_HL7_PEER is set, and a raw TCP echo of MLLP frames of the same size (the floor
//!    the transport allows on this machine), and a raw ping-pong (plain TCP client, no codec)
//!    against that echo: the floor for any MLLP client. Then the same on 8 connections.

use std::time::{Duration, Instant};

use emr_core::hl7::Message;
use emr_transport::mllp::{MllpClient, MllpConfig};
use emr_validate::hl7v2;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// The allocator the shipped binary uses (src/main.rs), so the listener is measured as it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MSG: &str = "MSH|^~\\&|REGADT|HOSP|EMR|HOSP|20261125093000||ADT^A08^ADT_A01|CTRL|P|2.5.1\rEVN|A08|20261125093000\rPID|1||BENCH1^^^HOSP^MR||EVERYMAN^ADAM^A^III||19610615|M|||1200 N ELM STREET^^GREENSBORO^NC^27401\rPV1|1|I|2000^2012^01||||||||||||||||V1001\r";

fn fixtures() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hl7");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    v.sort();
    v
}

/// A hostile-size message: the structure check must stay linear (it took 48 s on 60k segments
/// when it counted each segment's earlier occurrences).
fn huge_message() {
    let mut text = String::from(
        "MSH|^~\\&|LAB|L|EMR|H|20261125093000||ORU^R01^ORU_R01|BIG|P|2.5.1\rPID|1||M1^^^H^MR||Doe^Jane\rOBR|1||F1|24331-1^Panel^LN\r",
    );
    for i in 0..100_000 {
        text.push_str(&format!(
            "OBX|{i}|NM|2345-7^Glucose^LN||{}|mg/dL|||||F\r",
            90 + i % 20
        ));
    }
    let started = Instant::now();
    let msg = Message::parse_limited(&text, 200_000).expect("parses");
    let parsed = started.elapsed();
    let issues = hl7v2::validate(&msg, &Default::default()).findings;
    println!(
        "100k-segment ORU:      parse {:.1} ms, structure check {:.1} ms ({} issues, {:.1} MB)",
        parsed.as_secs_f64() * 1e3,
        (started.elapsed() - parsed).as_secs_f64() * 1e3,
        issues.len(),
        text.len() as f64 / 1e6
    );
}

fn parse_throughput() {
    let msgs = fixtures();
    let bytes: usize = msgs.iter().map(String::len).sum();
    let mut rounds = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        for m in &msgs {
            let parsed = Message::parse(std::hint::black_box(m)).expect("parses");
            std::hint::black_box(parsed.value("PID-3.1"));
        }
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let mb = (bytes * rounds) as f64 / 1e6;
    println!(
        "parse:                 {:8.1} MB/s  ({} messages, {:.1} MB in {secs:.1} s)",
        mb / secs,
        msgs.len() * rounds,
        mb
    );

    let started = Instant::now();
    let mut n = 0usize;
    while started.elapsed() < Duration::from_secs(2) {
        for m in &msgs {
            let parsed = Message::parse(m).expect("parses");
            std::hint::black_box(hl7v2::validate(&parsed, &Default::default()));
            n += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "parse + structure:     {:8.1} MB/s",
        (bytes * n / msgs.len()) as f64 / 1e6 / secs
    );
}

/// One connection, messages back to back. Run in a spawned task like the other measurements:
/// a future polled by `block_on` itself is woken across threads on every read (≈ 40 µs each).
async fn round_trips(label: &'static str, addr: &str, n: usize) {
    let addr = addr.to_string();
    tokio::spawn(async move { round_trips_on_worker(label, &addr, n).await })
        .await
        .expect("task");
}

async fn round_trips_on_worker(label: &str, addr: &str, n: usize) {
    let mut c = MllpClient::new(MllpConfig::new(addr)).expect("client");
    // Warm up: connect, let the peer settle.
    for _ in 0..50 {
        c.send(MSG.as_bytes()).await.expect("ack");
    }
    let started = Instant::now();
    for _ in 0..n {
        c.send(MSG.as_bytes()).await.expect("ack");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<22} {:8.0} round trips/s  ({n} on {} connection(s), {:.1} µs each)",
        n as f64 / secs,
        c.connections,
        secs * 1e6 / n as f64
    );
}

/// `conns` connections in parallel, each sending `n / conns` messages back to back.
async fn parallel_round_trips(label: &str, addr: &str, conns: usize, n: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = MllpClient::new(MllpConfig::new(addr)).expect("client");
            for _ in 0..n / conns {
                c.send(MSG.as_bytes()).await.expect("ack");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<22} {:8.0} round trips/s  ({n} on {conns} connections)",
        n as f64 / secs
    );
    n as f64 / secs
}

/// The raw ping-pong: `conns` plain TCP clients each writing one MLLP frame and reading until the
/// end block, back to back (no codec, no ACK parsing): the floor for any MLLP client.
async fn raw_ping_pong(label: &str, addr: &str, conns: usize, n: usize) -> f64 {
    let frame = [&[0x0b][..], MSG.as_bytes(), &[0x1c, 0x0d]].concat();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.to_string();
        let frame = frame.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 64 * 1024];
            for _ in 0..n / conns {
                s.write_all(&frame).await.expect("write");
                let mut got = 0;
                while got < 2 || buf[got - 2..got] != [0x1c, 0x0d] {
                    let k = s.read(&mut buf[got..]).await.expect("read");
                    assert!(k > 0, "echo closed");
                    got += k;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<22} {:8.0} round trips/s  ({n} on {conns} connection(s))",
        n as f64 / secs
    );
    n as f64 / secs
}

/// Echoes each MLLP frame back unchanged: the cost of the transport alone.
async fn raw_echo(bind: &str) -> String {
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending = Vec::new();
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(2).position(|w| w == [0x1c, 0x0d]) {
                        let frame: Vec<u8> = pending.drain(..end + 2).collect();
                        if s.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// The trivial ACK server of the client-cost benchmark: for every frame, an `AA` ACK naming the
/// message's MSH-10, found by counting field separators (no HL7 parser, no allocation beyond the
/// answer): as cheap a peer as an MLLP client can meet, so the client's cost is what is measured.
async fn ack_server(bind: &str) -> String {
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending = Vec::new();
                let mut answer = Vec::with_capacity(256);
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(2).position(|w| w == [0x1c, 0x0d]) {
                        let frame: Vec<u8> = pending.drain(..end + 2).collect();
                        let control = frame
                            .split(|b| *b == b'\r')
                            .next()
                            .and_then(|msh| msh.split(|b| *b == b'|').nth(9))
                            .unwrap_or(b"");
                        answer.clear();
                        answer.extend_from_slice(
                            b"\x0bMSH|^~\\&|ACKSRV|BENCH|REGADT|HOSP|20261125093000||ACK^A08^ACK|",
                        );
                        answer.extend_from_slice(control);
                        answer.extend_from_slice(b"|P|2.5.1\rMSA|AA|");
                        answer.extend_from_slice(control);
                        answer.extend_from_slice(b"\r\x1c\r");
                        if s.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// CPU time this thread has used, in ns (`/proc/thread-self/schedstat`, scheduler accounting:
/// finer than getrusage's ticks). The client runs on a current-thread runtime, so every client
/// instruction is counted here and none of the server's (another process, another core).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU per round trip of our MllpClient (as `run` and `load` use it) against the raw ping-pong
/// client, on the same ACK server, interleaved `rounds` times; prints the median ratio.
async fn client_cpu(ack: &str, conns: usize, n: usize, rounds: usize) {
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let t0 = thread_cpu_ns();
        raw_ping_pong("raw ping-pong:", ack, conns, n).await;
        let raw = (thread_cpu_ns() - t0) as f64 / n as f64;
        let t0 = thread_cpu_ns();
        parallel_round_trips("emr-harness MllpClient:", ack, conns, n).await;
        let ours = (thread_cpu_ns() - t0) as f64 / n as f64;
        println!(
            "  round {}: CPU per round trip: raw {:.2} µs, ours {:.2} µs, ratio {:.2}",
            round + 1,
            raw / 1e3,
            ours / 1e3,
            ours / raw
        );
        ratios.push(ours / raw);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "client CPU ratio on {conns} connection(s), median of {rounds}: {:.2} (target <= 1.25)",
        ratios[rounds / 2]
    );
}

/// `cargo bench --bench hl7 -- mllp` skips the parser measurements; `-- stages` times the
/// listener's work per message without the network; `-- mllp profile-sandbox` adds
/// a long 8-connection run against the sandbox, to profile the listener. `serve-echo ADDR` and
/// `pinned ECHO_ADDR SANDBOX_ADDR` are the two halves of `benches/mllp-rate.sh`, which runs the
/// servers and the clients on separate cores; `serve-ack ADDR` and `client-cpu ACK_ADDR` are those
/// of `benches/mllp-client-cpu.sh`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "serve-echo") {
        let bind = args.get(i + 1).cloned().unwrap_or("127.0.0.1:0".into());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            println!("echo on {}", raw_echo(&bind).await);
            std::future::pending::<()>().await
        });
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "serve-ack") {
        let bind = args.get(i + 1).cloned().unwrap_or("127.0.0.1:0".into());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            println!("ACK server on {}", ack_server(&bind).await);
            std::future::pending::<()>().await
        });
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "client-cpu") {
        let ack = args[i + 1].clone();
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50_000);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            for conns in [1, 8] {
                client_cpu(&ack, conns, n, 3).await;
            }
        });
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "pinned") {
        let (echo, sandbox) = (args[i + 1].clone(), args[i + 2].clone());
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50_000);
        // One thread: the script pins this process to one core.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let conns: Vec<usize> = std::env::var("CONNS")
                .unwrap_or("1 8".into())
                .split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect();
            for conns in conns {
                let raw = raw_ping_pong("raw ping-pong:", &echo, conns, n).await;
                let ours = parallel_round_trips("sandbox listener:", &sandbox, conns, n).await;
                println!("ratio on {conns} connection(s): {:.2}", ours / raw);
            }
        });
        return;
    }
    if args.iter().any(|a| a == "stages") {
        stages();
        return;
    }
    if args.iter().any(|a| a == "huge") {
        huge_message();
        return;
    }
    let only_mllp = args.iter().any(|a| a == "mllp");
    if !only_mllp {
        parse_throughput();
        huge_message();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let n = 20_000;
        let echo = raw_echo("127.0.0.1:0").await;
        raw_ping_pong("raw ping-pong:", &echo, 1, n).await;
        round_trips("raw TCP echo:", &echo, n).await;
        let sb = emr_sandbox::start(Default::default())
            .await
            .expect("sandbox");
        let addr = sb.mllp_addr.expect("listener").to_string();
        round_trips("sandbox listener:", &addr, n).await;
        match std::env::var("EMR_HARNESS_HL7_PEER") {
            Ok(peer) if !peer.is_empty() => round_trips("python-hl7 peer:", &peer, n).await,
            _ => println!("python-hl7 peer:       skipped (EMR_HARNESS_HL7_PEER not set)"),
        }
        raw_ping_pong("raw ping-pong, 8 conn:", &echo, 8, 4 * n).await;
        parallel_round_trips("raw TCP echo, 8 conn:", &echo, 8, 4 * n).await;
        parallel_round_trips("sandbox, 8 conn:", &addr, 8, 4 * n).await;
        if std::env::args().any(|a| a == "profile-sandbox") {
            // Long enough for `perf record` to see the listener rather than the set-up.
            parallel_round_trips("sandbox, 8 conn:", &addr, 8, 40 * n).await;
        }
        sb.stop().await;
    });
}

/// `cargo bench --bench hl7 -- stages`: what the listener's work for one message costs, stage by
/// stage, without the network (the bench message updates one patient and one encounter).
fn stages() {
    use emr_sandbox::fhir_api::AppState;
    use emr_sandbox::store::Store;
    use emr_sandbox::{mllp_listener, v2_to_fhir};
    let state = AppState {
        store: std::sync::RwLock::new(Store::default()),
        base_url: "http://sandbox/fhir".into(),
        default_page_size: 20,
    };
    let n = 300_000;
    let time = |label: &str, f: &mut dyn FnMut()| {
        for _ in 0..1000 {
            f();
        }
        let started = Instant::now();
        for _ in 0..n {
            f();
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{label:<26} {us:6.2} µs");
    };
    time("respond + render (all)", &mut || {
        let ack = mllp_listener::respond(&state, MSG, false);
        std::hint::black_box(ack.render());
    });
    time("parse", &mut || {
        std::hint::black_box(Message::parse(MSG).ok());
    });
    let msg = Message::parse(MSG).expect("parses");
    time("structure check", &mut || {
        std::hint::black_box(hl7v2::validate(&msg, &Default::default()));
    });
    time("v2 → FHIR map", &mut || {
        std::hint::black_box(v2_to_fhir::map(&msg).ok());
    });
    time("map + store write", &mut || {
        if let Ok(Some(mapped)) = v2_to_fhir::map(&msg) {
            let mut store = state.store.write().unwrap_or_else(|p| p.into_inner());
            let _ = std::hint::black_box(v2_to_fhir::write(&mut store, mapped));
        }
    });
}
