//! The main loop: builds the stages from a `Config` and runs them as tasks on
//! one `LocalExecutor` (SPEC, Pipeline). The queue, telemetry and offload
//! pool live on this function's stack and outlive the executor, so tasks
//! share them by `&`.
//!
//! Shutdown (SIGTERM, SIGINT): scraping stops, the open batch is sealed, and
//! everything in RAM is spilled to disk and synced; the next start delivers
//! it. Without a usable data_dir the sender gets up to `SHUTDOWN_GRACE` to
//! deliver what is in RAM.

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_signal::{Signal, Signals};
use smol::stream::StreamExt;
use smol::{LocalExecutor, Timer};

use crate::buffer::Buffer;
use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::discovery::static_sd;
use crate::offload::Offload;
use crate::scrape;
use crate::sender::Queue;
use crate::systemd;
use crate::telemetry::{Telemetry, serve};

/// Blocking threads for scrapes and sends together.
const BLOCKING_THREADS: usize = 4;
/// How long a clean stop waits for buffered blocks to be delivered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum AgentError {
    Listen(std::net::SocketAddr, std::io::Error),
    Signals(std::io::Error),
    /// A TLS or credential file that was usable when the config was checked is not now.
    Client(String, ClientError),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Listen(addr, e) => write!(f, "listen on {addr}: {e}"),
            AgentError::Signals(e) => write!(f, "install signal handlers: {e}"),
            AgentError::Client(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Runs until SIGTERM or SIGINT.
pub fn run(config: &Config) -> Result<(), AgentError> {
    let mut signals = Signals::new([Signal::Term, Signal::Int, Signal::Hup]).map_err(AgentError::Signals)?;
    let listener = match config.listen {
        Some(addr) => Some(
            smol::block_on(smol::net::TcpListener::bind(addr)).map_err(|e| AgentError::Listen(addr, e))?,
        ),
        None => None,
    };
    let offload = Offload::new(BLOCKING_THREADS);
    // The first remote_write is the only one so far (the config refuses more).
    let queues: Vec<Queue> = config
        .remote_write
        .iter()
        .map(|rw| {
            let buffer = Buffer::open(&config.buffer, &config.data_dir.join(dir_name(&rw.name)));
            Queue::new(rw, &config.global.external_labels, &config.buffer, buffer)
                .map_err(|e| AgentError::Client(format!("remote_write {}", rw.name), e))
        })
        .collect::<Result<_, _>>()?;
    let Some(queue) = queues.first() else { return Ok(()) };
    let telemetry = Rc::new(Telemetry {
        queues: queues.iter().map(|q| q.metrics.clone()).collect(),
        start_time_seconds: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64(),
    });
    let cx = scrape::Context { queue, offload: &offload };
    // One client per job, shared by its targets (Prometheus's scrape pool).
    let mut targets = Vec::new();
    for sc in &config.scrape_configs {
        let client = Client::new(&sc.http_client, sc.scrape_timeout)
            .map_err(|e| AgentError::Client(format!("job {}", sc.job_name), e))?;
        targets.extend(static_sd::targets(sc).into_iter().map(|t| (t, client.clone())));
    }

    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let mut scrapes = Vec::new();
        for (target, client) in targets {
            scrapes.push(ex.spawn(scrape::run(target, client, &cx)));
        }
        let background = [
            ex.spawn(queue.seal_on_deadline()),
            ex.spawn(queue.run(&offload, seed())),
            ex.spawn(queue.sync_periodically()),
            ex.spawn(watchdog()),
        ];
        if let Some(listener) = listener {
            ex.spawn(serve::serve(listener, telemetry.clone())).detach();
        }
        log::info!(
            "outpost {} started: {} targets, remote_write {} ({})",
            env!("CARGO_PKG_VERSION"),
            scrapes.len(),
            queue.name,
            queue.metrics.url
        );
        systemd::notify("READY=1");
        while let Some(signal) = signals.next().await {
            match signal {
                Ok(Signal::Hup) => {
                    log::warn!("SIGHUP: configuration reload is not supported yet; still running")
                }
                Ok(signal) => {
                    log::info!("{signal:?}: stopping");
                    break;
                }
                Err(e) => log::warn!("signal stream: {e}"),
            }
        }
        systemd::notify("STOPPING=1");
        drop(scrapes); // cancels the scrape loops
        queue.stop();
        // Without a usable data_dir, what is in RAM can only be delivered.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while queue.in_memory() > 0 && Instant::now() < deadline {
            Timer::after(Duration::from_millis(20)).await;
        }
        let (in_memory, on_disk) = (queue.in_memory(), queue.pending() - queue.in_memory());
        if in_memory > 0 {
            log::warn!("stopped with {in_memory} samples undelivered and lost");
        }
        if on_disk > 0 {
            log::info!("stopped; {on_disk} samples on disk will be sent after the next start");
        }
        drop(background);
    }));
    Ok(())
}

/// A remote_write's buffer directory under `data_dir`: its name, with
/// anything but `[A-Za-z0-9._-]` replaced.
fn dir_name(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if safe.trim_matches('.').is_empty() { "_".into() } else { safe }
}

/// Sends `WATCHDOG=1` from the executor itself, so a hung loop gets restarted.
async fn watchdog() {
    let Some(every) = systemd::watchdog_interval() else { return };
    loop {
        systemd::notify("WATCHDOG=1");
        Timer::after(every).await;
    }
}

/// A per-process seed for backoff jitter, so a fleet does not retry in lockstep.
fn seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}
