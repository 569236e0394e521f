//! List, then watch, as client-go's reflector does (SPEC, "Kubernetes pod
//! discovery"): list with a resourceVersion, watch from it with bookmarks,
//! follow each event's resourceVersion, watch again when the server ends the
//! stream, list again after HTTP 410 or an in-stream ERROR 410. Errors are
//! logged with their cause and retried with jittered backoff; what is known
//! stays known (nothing is sent), so its targets keep being scraped.
//!
//! Threads: each watched collection (one resource of a `kubernetes_sd_configs`
//! entry in one namespace: endpoints, services and pods for role endpoints,
//! plus nodes or namespaces for attach_metadata) has one OS thread of its
//! own, not the `Offload` pool: a watch blocks on its stream for good and
//! would starve scrapes and sends. Their
//! number is fixed by the configuration. A stopped provider's threads end at
//! their next event, bookmark or watch renewal (within two minutes).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smol::channel::Sender;

use super::events::{self, Event};
use super::join::{Change, Join};
use super::kubeconfig::{self, Endpoint, KubeconfigError};
use super::objects::Resource;
use crate::client::{Client, describe};
use crate::config::{KubernetesRole as Role, KubernetesSdConfig};
use crate::discovery::{Updates, percent_encode};
use crate::sender::backoff::Backoff;

/// A list body larger than this is refused (a K3s node's pods take ~10 KiB each; 5,000
/// objects, `events::MAX_OBJECTS`, are about 50 MiB of real pods, but a list that large is
/// not an edge device's to hold).
const MAX_LIST_BYTES: u64 = 32 << 20;
/// A watch that ends sooner with no event is a failure, not a renewal.
const MIN_WATCH: Duration = Duration::from_secs(1);
/// A single watch event larger than this ends the stream.
const MAX_EVENT_BYTES: u64 = 4 << 20;

/// Timeouts and backoff; [`Settings::default`] is what the agent uses.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Bounds a list request, end to end.
    pub list_timeout: Duration,
    /// The server ends a watch after this, times a random factor in [1, 2),
    /// spread so watches do not renew together. client-go waits 5 minutes;
    /// one minute here, so that a reload's new credentials and a stopped
    /// provider's threads take effect within two (a renewal does not list).
    pub watch_timeout: Duration,
    /// How much longer the client waits for a stream the server should have
    /// ended: a watch that hangs is given up after `watch_timeout × f + grace`.
    pub watch_grace: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Where the in-cluster service account's files are.
    pub service_account_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            list_timeout: Duration::from_secs(60),
            watch_timeout: Duration::from_secs(60),
            watch_grace: Duration::from_secs(30),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            service_account_dir: PathBuf::from(kubeconfig::SERVICE_ACCOUNT_DIR),
        }
    }
}

/// How the API server is reached; resolved again after a 401 or 403.
#[derive(Clone, Debug)]
enum Access {
    Kubeconfig(PathBuf),
    InCluster(PathBuf),
    ApiServer(Endpoint),
}

impl Access {
    fn endpoint(&self) -> Result<Endpoint, KubeconfigError> {
        match self {
            Access::Kubeconfig(path) => kubeconfig::load(path),
            Access::InCluster(dir) => kubeconfig::in_cluster(kubeconfig::process_env, dir),
            Access::ApiServer(endpoint) => Ok(endpoint.clone()),
        }
    }
}

/// One list+watch: a resource's objects in one namespace, or in all.
#[derive(Clone, Debug)]
struct Collection {
    resource: Resource,
    namespace: Option<String>,
    label_selector: String,
    field_selector: String,
}

impl Collection {
    fn url(&self, server: &str, query: &[(&str, &str)]) -> String {
        let path = self.resource.path(self.namespace.as_deref(), percent_encode);
        let selectors = [("labelSelector", &self.label_selector), ("fieldSelector", &self.field_selector)];
        let selectors = selectors.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.as_str()));
        let pairs: Vec<String> = query
            .iter()
            .copied()
            .chain(selectors)
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        format!("{server}{path}?{}", pairs.join("&"))
    }

    fn describe(&self) -> String {
        let what = self.resource.plural();
        match &self.namespace {
            Some(ns) => format!("kubernetes_sd {what} in namespace {ns}"),
            None => format!("kubernetes_sd {what}"),
        }
    }
}

/// Bumped on SIGHUP: every watcher reads its credentials again before its
/// next request (a provider whose config did not change keeps running).
static CREDENTIALS_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Makes every running watcher read its kubeconfig, token and certificates
/// again before its next request (SPEC: credentials are re-read on reload).
pub fn reload_credentials() {
    CREDENTIALS_EPOCH.fetch_add(1, Ordering::SeqCst);
}

/// Sets the flag when the provider's future is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The role's own resource.
fn primary(role: Role) -> Resource {
    match role {
        Role::Pod => Resource::Pod,
        Role::Node => Resource::Node,
        Role::Service => Resource::Service,
        Role::Endpoints => Resource::Endpoints,
        Role::EndpointSlice => Resource::EndpointSlice,
        Role::Ingress => Resource::Ingress,
    }
}

/// What a role watches: its own resource in each namespace, the Services
/// and Pods of those namespaces for endpoints and endpointslice, and the
/// Nodes and Namespaces (cluster-wide) only when attach_metadata asks.
fn collections(config: &KubernetesSdConfig, namespaces: &[Option<String>]) -> Vec<Collection> {
    let own = primary(config.role);
    let mut per_namespace = vec![own];
    if matches!(config.role, Role::Endpoints | Role::EndpointSlice) {
        per_namespace.extend([Resource::Service, Resource::Pod]);
    }
    let attach_node =
        config.attach_node && matches!(config.role, Role::Pod | Role::Endpoints | Role::EndpointSlice);
    let attach_namespace = config.attach_namespace && config.role != Role::Node;
    let selector = |resource: Resource| -> (String, String) {
        if resource == own {
            return (config.label_selector.clone(), config.field_selector.clone());
        }
        let found = config.other_selectors.iter().find(|s| primary(s.role) == resource);
        found.map_or((String::new(), String::new()), |s| (s.label.clone(), s.field.clone()))
    };
    let mut out = Vec::new();
    let mut add = |resource: Resource, namespace: Option<String>| {
        let (label_selector, field_selector) = selector(resource);
        out.push(Collection { resource, namespace, label_selector, field_selector });
    };
    for resource in per_namespace {
        if resource.namespaced() {
            for ns in namespaces {
                add(resource, ns.clone());
            }
        } else {
            add(resource, None);
        }
    }
    if attach_node {
        add(Resource::Node, None);
    }
    if attach_namespace {
        add(Resource::Namespace, None);
    }
    out
}

/// The provider: one thread per collection, their changes joined into
/// groups here and sent to the agent.
pub async fn run(config: KubernetesSdConfig, updates: Updates, settings: Settings) {
    let access = match (&config.kubeconfig_file, &config.api_server) {
        (Some(path), _) => Access::Kubeconfig(path.clone()),
        (None, Some(server)) => {
            Access::ApiServer(Endpoint { server: server.clone(), http: config.http_client.clone() })
        }
        (None, None) => Access::InCluster(settings.service_account_dir.clone()),
    };
    let mut namespaces: Vec<Option<String>> = config.namespaces.iter().cloned().map(Some).collect();
    if config.own_namespace && config.role != Role::Node {
        match kubeconfig::own_namespace(&settings.service_account_dir) {
            Ok(own) => namespaces.push(Some(own)),
            Err(e) => log::error!("kubernetes_sd_configs namespaces.own_namespace: {e}"),
        }
        if namespaces.is_empty() {
            let _ = updates.send(Vec::new()).await;
            return;
        }
    }
    namespaces.sort();
    namespaces.dedup();
    if namespaces.is_empty() {
        namespaces = vec![None];
    }
    let collections = collections(&config, &namespaces);
    let resources: Vec<Resource> = collections.iter().map(|c| c.resource).collect();
    let mut join = Join::new(primary(config.role), &resources);
    let (tx, rx) = smol::channel::bounded::<(usize, Change)>(16);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(stop.clone());
    for (index, collection) in collections.into_iter().enumerate() {
        let what = collection.describe();
        let mut watcher =
            Watcher::new(collection, index, access.clone(), settings.clone(), tx.clone(), stop.clone());
        if let Err(e) = std::thread::Builder::new().name("kubernetes-sd".into()).spawn(move || watcher.run())
        {
            log::error!("{what}: cannot start its thread: {e}");
        }
    }
    drop(tx);
    while let Ok((index, change)) = rx.recv().await {
        let Some(groups) = join.apply(index, change) else { continue };
        if !updates.send(groups).await {
            return;
        }
    }
}

/// Why a list or watch did not go on.
enum Failure {
    /// 401 or 403: read the credentials again.
    Auth(String),
    /// 410: list again.
    Expired(String),
    Other(String),
    /// The provider stopped.
    Stopped,
}

/// One collection's list+watch loop, on its own thread.
struct Watcher {
    collection: Collection,
    /// The collection's index in the provider's join.
    index: usize,
    access: Access,
    settings: Settings,
    tx: Sender<(usize, Change)>,
    stop: Arc<AtomicBool>,
    /// Objects in the last list, for the log.
    known: usize,
    /// Hashes of the keys of the objects listed and watched since, to bound them
    /// (`events::MAX_OBJECTS`); a collision only undercounts.
    keys: std::collections::HashSet<u64>,
    /// Where the next watch starts; `None`: list first.
    resource_version: Option<String>,
    /// The next list asks for the freshest state (after a 410).
    fresh_list: bool,
    /// The client and the credentials epoch it was built in.
    client: Option<(String, Client, u64)>,
    rng: fastrand::Rng,
    /// The last failure logged, so a repeated one is logged once.
    trouble: Option<String>,
    /// An unknown event type was logged (later ones go to debug).
    unknown_logged: bool,
}

impl Watcher {
    fn new(
        collection: Collection,
        index: usize,
        access: Access,
        settings: Settings,
        tx: Sender<(usize, Change)>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Watcher {
            collection,
            index,
            access,
            settings,
            tx,
            stop,
            known: 0,
            keys: Default::default(),
            resource_version: None,
            fresh_list: false,
            client: None,
            rng: fastrand::Rng::new(),
            trouble: None,
            unknown_logged: false,
        }
    }

    fn run(&mut self) {
        let what = self.collection.describe();
        let mut backoff = Backoff::new(self.settings.min_backoff, self.settings.max_backoff);
        while !self.stopped() {
            let result = self.connect().and_then(|(server, client)| match self.resource_version.clone() {
                None => self.list(&server, &client),
                Some(rv) => self.watch(&server, &client, &rv),
            });
            match result {
                Ok(()) => {
                    if self.trouble.take().is_some() {
                        log::info!("{what}: the API server answers again");
                    }
                    backoff.reset();
                    continue;
                }
                Err(Failure::Stopped) => return,
                Err(Failure::Expired(message)) => {
                    log::info!("{what}: resourceVersion expired ({message}); listing again");
                    self.resource_version = None;
                    self.fresh_list = true;
                    continue;
                }
                Err(Failure::Auth(reason)) => {
                    self.client = None; // read the credentials again
                    self.report(format!("{reason}; reading the credentials again"));
                }
                Err(Failure::Other(reason)) => {
                    // A refused handshake (an expired or rotated certificate) is no
                    // HTTP status: read the kubeconfig again after any failure.
                    self.client = None;
                    self.report(reason);
                }
            }
            let wait = backoff.next(&mut self.rng);
            self.pause(wait);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.tx.is_closed()
    }

    /// Logs a failure once until it changes; known targets stay.
    fn report(&mut self, reason: String) {
        if self.trouble.as_ref() != Some(&reason) {
            log::warn!(
                "{}: {reason}; retrying with backoff, {} known objects keep their targets",
                self.collection.describe(),
                self.known
            );
            self.trouble = Some(reason);
        }
    }

    /// Sleeps in slices, so that a stop is noticed.
    fn pause(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    fn connect(&mut self) -> Result<(String, Client), Failure> {
        let epoch = CREDENTIALS_EPOCH.load(Ordering::SeqCst);
        if let Some((server, client, built)) = &self.client
            && *built == epoch
        {
            return Ok((server.clone(), client.clone()));
        }
        let endpoint = self.access.endpoint().map_err(|e| Failure::Other(e.to_string()))?;
        let timeout = self.settings.list_timeout;
        let client = Client::new(&endpoint.http, timeout)
            .map_err(|e| Failure::Other(format!("client for {}: {e}", endpoint.server)))?;
        self.client = Some((endpoint.server.clone(), client.clone(), epoch));
        Ok((endpoint.server, client))
    }

    fn send(&self, change: Change) -> Result<(), Failure> {
        self.tx.send_blocking((self.index, change)).map_err(|_| Failure::Stopped)
    }

    fn list(&mut self, server: &str, client: &Client) -> Result<(), Failure> {
        let rv = if std::mem::take(&mut self.fresh_list) { "" } else { "0" };
        let query: &[(&str, &str)] = if rv.is_empty() { &[] } else { &[("resourceVersion", rv)] };
        let url = self.collection.url(server, query);
        let response = client
            .get(&url)
            .header("Accept", "application/json")
            .config()
            .timeout_global(Some(self.settings.list_timeout))
            .build()
            .call();
        let mut response = response.map_err(|e| Failure::Other(format!("list {url}: {}", describe(&e))))?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_LIST_BYTES).read_to_vec();
        let body =
            body.map_err(|e| Failure::Other(format!("list {url}: reading the body: {}", describe(&e))))?;
        check_status(status, &body, "list", &url)?;
        let (rv, items) = events::decode_list(self.collection.resource, &body)
            .map_err(|e| Failure::Other(format!("{url}: {e}")))?;
        self.known = items.len();
        self.keys = items.iter().map(|o| key_hash(&o.key())).collect();
        self.send(Change::Listed(items))?;
        self.resource_version = Some(rv);
        Ok(())
    }

    fn watch(&mut self, server: &str, client: &Client, rv: &str) -> Result<(), Failure> {
        let factor = 1.0 + self.rng.f64();
        let timeout = Duration::from_secs_f64(self.settings.watch_timeout.as_secs_f64() * factor);
        let seconds = timeout.as_secs().max(1).to_string();
        let query = [
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", rv),
            ("timeoutSeconds", &seconds),
            ("watch", "true"),
        ];
        let url = self.collection.url(server, &query);
        let started = Instant::now();
        let mut events = 0u64;
        let response = client
            .get(&url)
            .header("Accept", "application/json")
            .config()
            .timeout_global(Some(timeout + self.settings.watch_grace))
            .build()
            .call();
        let mut response = response.map_err(|e| Failure::Other(format!("watch {url}: {}", describe(&e))))?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.body_mut().with_config().limit(64 << 10).read_to_vec().unwrap_or_default();
            return check_status(status, &body, "watch", &url);
        }
        let mut reader = BufReader::new(response.into_body().into_reader());
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.by_ref().take(MAX_EVENT_BYTES + 1).read_until(b'\n', &mut line);
            let n = read.map_err(|e| {
                let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                    || e.get_ref()
                        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
                if timed_out {
                    let limit = timeout + self.settings.watch_grace;
                    Failure::Other(format!("watch {url}: the watch hung: not ended within {limit:?} ({e})"))
                } else {
                    Failure::Other(format!("watch {url}: {e}"))
                }
            })?;
            if n == 0 {
                // A stream that ends at once with nothing in it is something
                // wrong (client-go's "very short watch"): back off, don't spin.
                if events == 0 && started.elapsed() < MIN_WATCH {
                    return Err(Failure::Other(format!(
                        "watch {url}: very short watch: ended with no event"
                    )));
                }
                return Ok(()); // the server ended the watch: watch again from the last resourceVersion
            }
            events += 1;
            if line.len() as u64 > MAX_EVENT_BYTES {
                return Err(Failure::Other(format!(
                    "watch {url}: an event larger than {MAX_EVENT_BYTES} bytes"
                )));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event = events::decode_event(self.collection.resource, &line)
                .map_err(|e| Failure::Other(format!("watch {url}: {e}")))?;
            match &event {
                Event::Upsert { resource_version, .. }
                | Event::Deleted { resource_version, .. }
                | Event::Bookmark { resource_version } => {
                    if !resource_version.is_empty() {
                        self.resource_version = Some(resource_version.clone());
                    }
                }
                Event::Expired { message } => return Err(Failure::Expired(message.clone())),
                Event::Failed { code, message } => {
                    return Err(Failure::Other(format!("watch {url}: ERROR event {code}: {message}")));
                }
                Event::Unknown { kind } if !std::mem::replace(&mut self.unknown_logged, true) => {
                    log::warn!(
                        "{}: skipping a watch event of unknown type {kind:?}",
                        self.collection.describe()
                    );
                }
                Event::Unknown { kind } => log::debug!("skipping a watch event of unknown type {kind:?}"),
            }
            match event {
                Event::Upsert { object, .. } => {
                    self.keys.insert(key_hash(&object.key()));
                    self.send(Change::Upsert(object))?
                }
                Event::Deleted { key, .. } => {
                    self.keys.remove(&key_hash(&key));
                    self.send(Change::Deleted(key))?
                }
                _ => {}
            }
            if self.keys.len() > events::MAX_OBJECTS {
                // The relist that follows refuses the set whole, with the same reason.
                return Err(Failure::Other(format!(
                    "watch {url}: more than the {} objects outpost keeps",
                    events::MAX_OBJECTS
                )));
            }
            if self.stopped() {
                return Err(Failure::Stopped);
            }
        }
    }
}

fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(key)
}

/// 200 passes; 401/403 and 410 are their own failures; the rest names the
/// status and the start of the server's message.
fn check_status(status: u16, body: &[u8], what: &str, url: &str) -> Result<(), Failure> {
    if status == 200 {
        return Ok(());
    }
    // The API server answers with a Status object: its message says it best.
    let status_message = events::status_message(body);
    let message = status_message
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).trim().to_owned());
    let reason = format!("{what} {url}: HTTP {status}: {message}");
    Err(match status {
        401 | 403 => Failure::Auth(reason),
        410 => Failure::Expired(format!("HTTP 410 {message}")),
        _ => Failure::Other(reason),
    })
}
