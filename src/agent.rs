//! The main loop: builds the stages from a `Config` and runs them as tasks on
//! one `LocalExecutor` (SPEC, Pipeline). The queue, telemetry and offload
//! pool live on this function's stack and outlive the executor, so tasks
//! share them by `&`.
//!
//! Discovery updates arrive over one channel from the providers; each job's
//! groups become targets and the pool applies the difference. SIGHUP reloads
//! the configuration (see [`reload`]).
//!
//! Shutdown (SIGTERM, SIGINT): scraping stops, the open batch is sealed, and
//! everything in RAM is spilled to disk and synced; the next start delivers
//! it. Without a usable data_dir the sender gets up to `SHUTDOWN_GRACE` to
//! deliver what is in RAM.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_signal::{Signal, Signals};
use smol::LocalExecutor;
use smol::stream::StreamExt;

use crate::buffer::Buffer;
use crate::buffer::disk::{DirLock, LockError};
use crate::client::{Client, ClientError};
use crate::config::ScrapeConfig;
use crate::config::{self, Config};
use crate::discovery::Group;
use crate::discovery::Update;
use crate::discovery::providers::Providers;
use crate::discovery::targets::populate_job;
use crate::offload::Offload;
use crate::scrape::{self, pool::Pool};
use crate::sender::{self, Outgoing, Queue};
use crate::status::Status;
use crate::systemd;
use crate::telemetry::{Telemetry, serve};
use crate::timer::Timer;
use crate::web::{self, ReloadRequest, Request, Web};

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
    /// Another process holds `data_dir` or a queue directory under it.
    Locked(LockError),
    /// `[web.tls_config]` files that were usable when the config was checked are not now.
    Web(crate::client::tls::TlsError),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Listen(addr, e) => write!(f, "listen on {addr}: {e}"),
            AgentError::Signals(e) => write!(f, "install signal handlers: {e}"),
            AgentError::Client(what, e) => write!(f, "{what}: {e}"),
            AgentError::Locked(e) => e.fmt(f),
            AgentError::Web(e) => write!(f, "web.tls_config: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Runs until SIGTERM or SIGINT; SIGHUP reloads `config.origin`.
pub fn run(config: &Config) -> Result<(), AgentError> {
    // Before anything else: a second instance must not bind `listen` or read a segment.
    let _locks = lock_dirs(config)?;
    let mut signals = Signals::new([Signal::Term, Signal::Int, Signal::Hup]).map_err(AgentError::Signals)?;
    let listener = match config.listen {
        Some(addr) => Some(
            smol::block_on(smol::net::TcpListener::bind(addr)).map_err(|e| AgentError::Listen(addr, e))?,
        ),
        None => None,
    };
    let (web, reload_requests) = Web::new(&config.web).map_err(AgentError::Web)?;
    let mut config = Rc::new(config.clone());
    // Each shard, beyond the first one of all, may hold one more request in
    // flight: a receiver that hangs until remote_timeout holds only its own.
    let shards: usize = config.remote_write.iter().map(|rw| rw.queue_config.max_shards).sum::<usize>() - 1;
    let offload = Offload::new(BLOCKING_THREADS + shards);
    // One queue per remote_write, each over its own buffer directory and
    // budget: a receiver that is down fills only its own buffer.
    let started = SystemTime::now();
    let start_time_seconds = started.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let status = Rc::new(Status::default());
    status.started.set(Some(started));
    status.set_config(config.clone(), started);
    // Recovering a large backlog reads every segment: the blocking pool does
    // it while `listen` already answers (`/-/ready` 503, process metrics).
    let buffers = {
        let starting = Rc::new(Telemetry {
            queues: Vec::new(),
            scrapes: Rc::default(),
            start_time_seconds,
            ready: Cell::new(false),
            status: status.clone(),
        });
        let opening = async {
            let mut buffers = Vec::with_capacity(config.remote_write.len());
            for rw in &config.remote_write {
                let (buffer_config, dir) =
                    (config.buffer.clone(), config.data_dir.join(config::buffer_dir(&rw.name)));
                buffers.push(offload.run(move || Buffer::open(&buffer_config, &dir)).await);
            }
            buffers
        };
        // Never finishes: serves until the buffers are open.
        let serving = async {
            if let Some(listener) = &listener {
                web::serve(listener, &web, &offload, &|r: &Request| serve::answer(r, &starting)).await;
            }
            std::future::pending::<Vec<Buffer>>().await
        };
        smol::block_on(smol::future::or(opening, serving))
    };
    let queues: Vec<Queue> = config
        .remote_write
        .iter()
        .zip(buffers)
        .map(|(rw, buffer)| {
            Queue::new(rw, &config.global.external_labels, &config.buffer, buffer)
                .map_err(|e| AgentError::Client(format!("remote_write {}", rw.name), e))
        })
        .collect::<Result<_, _>>()?;
    for queue in &queues {
        status.add_queue(queue.metrics.clone(), queue.status.clone());
    }
    let telemetry = Rc::new(Telemetry {
        queues: queues.iter().map(|q| q.metrics.clone()).collect(),
        scrapes: Rc::default(),
        start_time_seconds,
        ready: Cell::new(false),
        status: status.clone(),
    });
    // Metric families are recorded only if a remote_write sends them or the
    // API may show them (`/api/v1/targets/metadata`).
    let metadata = scrape::metadata::Registry::new(
        config.listen.is_some() || config.remote_write.iter().any(|rw| rw.metadata_config.send),
    );
    let cx = scrape::Context {
        queues: &queues,
        offload: &offload,
        metadata: &metadata,
        scrapes: &telemetry.scrapes,
        scratch: &scrape::scratch::Scratch::default(),
    };
    let clients = job_clients(&config).map_err(|(job, e)| AgentError::Client(format!("job {job}"), e))?;
    let (updates, discovered) = smol::channel::unbounded();
    let route = |r: &Request| serve::answer(r, &telemetry);

    let ex = LocalExecutor::new();
    // Not `smol::block_on`: while a thread is inside async-io's block_on, async-io's own
    // thread polls the reactor lock with backoff (50 us .. 10 ms) and the two threads take
    // the reactor in turns, about ten wake-ups per event. Our block_on parks this thread
    // until the next of its own timers (`timer`), and async-io's thread alone waits in epoll
    // for sockets and signals.
    crate::timer::block_on(ex.run(async {
        let mut providers = Providers::new(&ex, &offload, updates);
        let mut pool = Pool::new(&ex, &cx);
        providers.apply(&config);
        for (job, client) in clients {
            pool.set_client(&job, client);
        }
        for sc in &config.scrape_configs {
            sync_job(&mut pool, &status, sc, providers.groups(&sc.job_name));
        }
        let mut background = vec![ex.spawn(watchdog())];
        for queue in &queues {
            background.extend([
                ex.spawn(queue.seal_on_deadline()),
                ex.spawn(queue.run(&offload, seed())),
                ex.spawn(queue.sync_periodically()),
                ex.spawn(queue.send_metadata_periodically(&metadata, &offload, seed())),
            ]);
        }
        if let Some(listener) = &listener {
            ex.spawn(web::serve(listener, &web, &offload, &route)).detach();
        }
        let receivers: Vec<String> =
            queues.iter().map(|q| format!("{} ({})", q.name, q.metrics.url)).collect();
        log::info!(
            "outpost {} started: {} targets, remote_write {}",
            env!("CARGO_PKG_VERSION"),
            pool.len(),
            receivers.join(", ")
        );
        telemetry.ready.set(true);
        systemd::notify("READY=1");
        loop {
            let signal = async { Event::Signal(signals.next().await) };
            let update = async { Event::Update(discovered.recv().await.ok()) };
            let requested = async { Event::Reload(reload_requests.recv().await.ok()) };
            match smol::future::or(signal, smol::future::or(update, requested)).await {
                Event::Update(Some(first)) => {
                    // Everything already queued is taken in one pass, so a
                    // burst of updates costs one diff per job.
                    let mut dirty: BTreeSet<String> = providers.update(first).into_iter().collect();
                    while let Ok(next) = discovered.try_recv() {
                        dirty.extend(providers.update(next));
                    }
                    for sc in config.scrape_configs.iter().filter(|sc| dirty.contains(&sc.job_name)) {
                        sync_job(&mut pool, &status, sc, providers.groups(&sc.job_name));
                    }
                }
                Event::Update(None) => {} // never: `providers` holds a sender
                Event::Signal(Some(Ok(Signal::Hup))) => {
                    systemd::notify("RELOADING=1");
                    match reload(&config, &queues, &web, &mut providers, &mut pool, &status, "SIGHUP") {
                        Ok(new) => {
                            status.set_config(new.clone(), SystemTime::now());
                            config = new;
                        }
                        Err(e) => {
                            log::error!("SIGHUP: {e}");
                            status.reload_failed(SystemTime::now());
                        }
                    }
                    systemd::notify("READY=1");
                }
                // POST /-/reload (web.enable_lifecycle): the same reload, its outcome the answer.
                Event::Reload(Some(reply)) => {
                    systemd::notify("RELOADING=1");
                    let outcome =
                        reload(&config, &queues, &web, &mut providers, &mut pool, &status, "/-/reload");
                    match &outcome {
                        Ok(new) => status.set_config(new.clone(), SystemTime::now()),
                        Err(e) => {
                            log::error!("/-/reload: {e}");
                            status.reload_failed(SystemTime::now());
                        }
                    }
                    let _ = reply.try_send(outcome.map(|new| config = new));
                    systemd::notify("READY=1");
                }
                Event::Reload(None) => {} // never: `web` holds a sender
                Event::Signal(Some(Ok(signal))) => {
                    log::info!("{signal:?}: stopping");
                    break;
                }
                Event::Signal(Some(Err(e))) => log::warn!("signal stream: {e}"),
                Event::Signal(None) => break,
            }
        }
        telemetry.ready.set(false);
        systemd::notify("STOPPING=1");
        drop(providers);
        drop(pool); // cancels the scrape loops
        for queue in &queues {
            queue.stop();
        }
        // Without a usable data_dir, what is in RAM can only be delivered;
        // the queues deliver side by side within one grace period.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while queues.iter().any(|q| q.in_memory() > 0) && Instant::now() < deadline {
            Timer::after(Duration::from_millis(20)).await;
        }
        for queue in &queues {
            let (in_memory, on_disk) = (queue.in_memory(), queue.pending() - queue.in_memory());
            if in_memory > 0 {
                log::warn!(
                    "remote_write {}: stopped with {in_memory} samples undelivered and lost",
                    queue.name
                );
            }
            if on_disk > 0 {
                log::info!(
                    "remote_write {}: stopped; {on_disk} samples on disk will be sent after the next start",
                    queue.name
                );
            }
        }
        drop(background);
    }));
    Ok(())
}

/// Locks `data_dir`, then each queue directory under it (a queue directory may be shared through
/// a symlink or another instance's `data_dir`). Contention fails the start; a directory that
/// cannot be created or locked is logged, and its buffer falls back as `Buffer::open` says.
fn lock_dirs(config: &Config) -> Result<Vec<DirLock>, AgentError> {
    let dirs = std::iter::once(config.data_dir.clone())
        .chain(config.remote_write.iter().map(|rw| config.data_dir.join(config::buffer_dir(&rw.name))));
    let mut locks = Vec::new();
    for dir in dirs {
        match DirLock::acquire(&dir) {
            Ok(lock) => locks.push(lock),
            Err(e @ LockError::Held { .. }) => return Err(AgentError::Locked(e)),
            Err(e) => log::warn!("{e}: running without a lock"),
        }
    }
    Ok(locks)
}

enum Event {
    Signal(Option<std::io::Result<Signal>>),
    Update(Option<Update>),
    Reload(Option<ReloadRequest>),
}

/// SIGHUP and `POST /-/reload`: reads and validates the configuration
/// again. An invalid one is refused (the error names its position) and the
/// running one kept. A valid one is applied
/// by difference: providers and scrape loops of unchanged targets keep
/// running; each queue's remote-write client is rebuilt (credential files
/// are read anew); a change to external labels or any write relabeling
/// restarts every loop, whose caches hold encoded labels; the buffers are
/// untouched. `[web]` applies to connections accepted afterwards.
fn reload(
    running: &Rc<Config>,
    queues: &[Queue],
    web: &Web,
    providers: &mut Providers,
    pool: &mut Pool,
    status: &Status,
    cause: &str,
) -> Result<Rc<Config>, String> {
    let loaded = if running.origin == "<default>" {
        config::parse(config::DEFAULT, "<default>")
    } else {
        config::load(Path::new(&running.origin))
    };
    let new = match loaded {
        Ok(new) => new,
        Err(e) => return Err(format!("invalid config, still running the previous one: {e}")),
    };
    let (new, restart) = config::reload::reconcile(running, new);
    for message in &restart {
        log::warn!("{cause}: {message}");
    }
    // Every client is built anew, reading its credential and TLS files again;
    // one that cannot be built keeps the running configuration.
    let clients = match job_clients(&new) {
        Ok(clients) => clients,
        Err((job, e)) => return Err(format!("job {job}: {e}; still running the previous configuration")),
    };
    // `reconcile` kept the running remote_write names, so each queue finds its entry.
    let mut rw_clients = Vec::with_capacity(queues.len());
    for queue in queues {
        let Some(rw) = new.remote_write.iter().find(|rw| rw.name == queue.name) else { continue };
        match sender::http::Client::new(rw) {
            Ok(client) => rw_clients.push((queue, rw, client)),
            Err(e) => {
                let name = &rw.name;
                return Err(format!("remote_write {name}: {e}; still running the previous configuration"));
            }
        }
    }
    if let Err(e) = web.set(&new.web) {
        return Err(format!("web.tls_config: {e}; still running the previous configuration"));
    }
    crate::log::set_level(new.log_level);
    for (job, client) in clients {
        pool.set_client(&job, client);
    }
    crate::discovery::kubernetes::watch::reload_credentials();
    let mut restart_loops = false;
    for (queue, rw, client) in rw_clients {
        queue.set_client(client);
        let outgoing = Outgoing::new(rw, &new.global.external_labels);
        if outgoing != *queue.outgoing() {
            queue.set_outgoing(outgoing);
            restart_loops = true;
        }
    }
    if restart_loops {
        log::info!("{cause}: external_labels or write_relabel_configs changed: restarting every scrape loop");
        pool.stop_all();
    }
    providers.apply(&new);
    let gone: Vec<String> = pool
        .jobs()
        .filter(|job| !new.scrape_configs.iter().any(|sc| sc.job_name == *job))
        .map(str::to_owned)
        .collect();
    for job in gone {
        pool.sync(&job, Vec::new());
    }
    status.with_pools(|pools| pools.keys().cloned().collect::<Vec<_>>()).iter().for_each(|job| {
        if !new.scrape_configs.iter().any(|sc| sc.job_name == *job) {
            status.remove_pool(job);
        }
    });
    for sc in &new.scrape_configs {
        sync_job(pool, status, sc, providers.groups(&sc.job_name));
    }
    log::info!("{cause}: configuration reloaded from {}: {} targets", new.origin, pool.len());
    Ok(Rc::new(new))
}

/// Makes `sc`'s loops serve its targets from `groups`, and shows them (and
/// the dropped ones) in `status`.
fn sync_job<'g>(
    pool: &mut Pool,
    status: &Status,
    sc: &ScrapeConfig,
    groups: impl IntoIterator<Item = &'g Group>,
) {
    let targets = populate_job(groups, sc);
    pool.sync(&sc.job_name, targets.active.iter().map(|(_, t)| t.clone()).collect());
    status.set_pool(&sc.job_name, targets, sc.keep_dropped_targets, |t| pool.health(&sc.job_name, t));
}

/// One client per job, shared by its targets (Prometheus's scrape pool); the
/// files it names are read now.
fn job_clients(config: &Config) -> Result<Vec<(String, Client)>, (String, ClientError)> {
    config
        .scrape_configs
        .iter()
        .map(|sc| match Client::new(&sc.http_client, sc.scrape_timeout) {
            Ok(client) => Ok((sc.job_name.clone(), client)),
            Err(e) => Err((sc.job_name.clone(), e)),
        })
        .collect()
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
