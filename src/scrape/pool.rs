//! The running scrape loops, by job and target key. Owned by the agent, which
//! hands it each job's wanted targets; it applies the difference
//! ([`targets::diff`]): a new target gets a loop, a removed or changed one is
//! stopped with staleness markers, an identical one keeps its loop and so its
//! schedule.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::SystemTime;

use smol::channel::{self, Sender};
use smol::{LocalExecutor, Task};

use super::Context;
use crate::client::Client;
use crate::discovery::{Diff, Key, Target, targets};
use crate::status::TargetHealth;

pub struct Pool<'ex, 'a> {
    ex: &'ex LocalExecutor<'a>,
    cx: &'a Context<'a>,
    jobs: HashMap<String, Job>,
    /// Each job's HTTP client, shared with its loops; replaced on reload.
    clients: HashMap<String, Rc<RefCell<Client>>>,
}

/// One job's targets and their loops; always the same keys.
#[derive(Default)]
struct Job {
    targets: HashMap<Key, Target>,
    loops: HashMap<Key, Loop>,
}

struct Loop {
    /// Sending a time stops the loop with staleness markers at that time.
    stop: Sender<SystemTime>,
    /// Dropping it cancels the loop without markers (shutdown).
    task: Task<()>,
    /// Its last scrape, for the status API.
    health: Rc<TargetHealth>,
}

impl Loop {
    fn stop(self, at: SystemTime) {
        // The channel has room for one time and nothing else sends on it.
        let _ = self.stop.try_send(at);
        self.task.detach();
    }
}

impl<'ex, 'a> Pool<'ex, 'a> {
    pub fn new(ex: &'ex LocalExecutor<'a>, cx: &'a Context<'a>) -> Self {
        Pool { ex, cx, jobs: HashMap::new(), clients: HashMap::new() }
    }

    /// The client `job`'s loops scrape with from their next scrape on.
    pub fn set_client(&mut self, job: &str, client: Client) {
        match self.clients.get(job) {
            Some(shared) => *shared.borrow_mut() = client,
            None => {
                self.clients.insert(job.to_owned(), Rc::new(RefCell::new(client)));
            }
        }
    }

    /// Makes `job`'s loops serve exactly `wanted`; returns what changed.
    pub fn sync(&mut self, job: &str, wanted: Vec<Target>) -> Diff {
        let state = self.jobs.entry(job.to_owned()).or_default();
        let diff = targets::diff(&state.targets, wanted);
        let now = SystemTime::now();
        for key in &diff.removed {
            state.targets.remove(key);
            if let Some(l) = state.loops.remove(key) {
                l.stop(now);
            }
        }
        for target in diff.changed.iter().chain(&diff.added) {
            let key = target.key();
            if let Some(l) = state.loops.remove(&key) {
                l.stop(now);
            }
            let (stop, stopped) = channel::bounded(1);
            let Some(client) = self.clients.get(job).cloned() else {
                // A bug: the agent sets every job's client before its first sync.
                debug_assert!(false, "job {job} has no client");
                log::error!("job {job}: no HTTP client; target {} not scraped", target.url);
                continue;
            };
            let health = Rc::new(TargetHealth::default());
            let task = self.ex.spawn(super::run(target.clone(), client, self.cx, stopped, health.clone()));
            state.loops.insert(key.clone(), Loop { stop, task, health });
            state.targets.insert(key, target.clone());
        }
        if state.targets.is_empty() {
            self.jobs.remove(job);
        }
        if !diff.is_empty() {
            log::info!(
                "job {job}: {} targets added, {} changed, {} removed, {} unchanged",
                diff.added.len(),
                diff.changed.len(),
                diff.removed.len(),
                diff.unchanged
            );
        }
        diff
    }

    /// Stops every loop with staleness markers (the series' encoding changed);
    /// the next `sync` of each job starts them anew.
    pub fn stop_all(&mut self) {
        let now = SystemTime::now();
        for (_, job) in self.jobs.drain() {
            job.loops.into_values().for_each(|l| l.stop(now));
        }
    }

    /// The last scrape of `target` of `job`, if it has a loop.
    pub fn health(&self, job: &str, target: &Target) -> Option<Rc<TargetHealth>> {
        self.jobs.get(job)?.loops.get(&target.key()).map(|l| l.health.clone())
    }

    /// The jobs that have targets.
    pub fn jobs(&self) -> impl Iterator<Item = &str> {
        self.jobs.keys().map(String::as_str)
    }

    /// Running loops.
    pub fn len(&self) -> usize {
        self.jobs.values().map(|j| j.loops.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
