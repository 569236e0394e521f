//! The running providers of every job and the groups they sent. Owned by the
//! agent: [`Providers::apply`] starts, keeps or replaces them for a config
//! (an unchanged provider keeps running), [`Providers::update`] takes what
//! they send.

use std::collections::HashMap;

use smol::channel::Sender;
use smol::{LocalExecutor, Task};

use super::targets::TargetSet;
use super::{Group, Provider, ProviderId, Update, Updates, static_sd};
use crate::config::Config;
use crate::offload::Offload;

pub struct Providers<'ex, 'a> {
    ex: &'ex LocalExecutor<'a>,
    offload: &'a Offload,
    tx: Sender<Update>,
    next_id: u64,
    jobs: HashMap<String, Job>,
    pub set: TargetSet,
}

struct Job {
    /// Holds the job's static_configs groups.
    statics: ProviderId,
    /// In configuration order.
    running: Vec<(ProviderId, Provider, Task<()>)>,
}

impl<'ex, 'a> Providers<'ex, 'a> {
    pub fn new(ex: &'ex LocalExecutor<'a>, offload: &'a Offload, tx: Sender<Update>) -> Self {
        Providers { ex, offload, tx, next_id: 0, jobs: HashMap::new(), set: TargetSet::default() }
    }

    /// Brings the providers in line with `config`: a job's provider at the
    /// same position with an equal config keeps running; a changed one is
    /// replaced (its successor holds its groups until it reports); the
    /// providers of removed jobs stop and their groups go.
    pub fn apply(&mut self, config: &Config) {
        let mut old = std::mem::take(&mut self.jobs);
        for sc in &config.scrape_configs {
            let mut job = old.remove(&sc.job_name).unwrap_or_else(|| {
                let statics = self.id();
                self.set.start(statics, &sc.job_name, None);
                Job { statics, running: Vec::new() }
            });
            self.set.replace(job.statics, static_groups(sc));
            let mut previous = std::mem::take(&mut job.running).into_iter();
            for provider in Provider::of(sc) {
                match previous.next() {
                    Some(kept) if kept.1 == provider => job.running.push(kept),
                    replaced => {
                        let replaces = replaced.map(|(id, _, task)| {
                            drop(task); // cancels it
                            id
                        });
                        let id = self.id();
                        self.set.start(id, &sc.job_name, replaces);
                        let updates = Updates { id, tx: self.tx.clone() };
                        let task = self.ex.spawn(provider.clone().run(updates, self.offload));
                        job.running.push((id, provider, task));
                    }
                }
            }
            for (id, _, _task) in previous {
                self.set.stop(id);
            }
            self.jobs.insert(sc.job_name.clone(), job);
        }
        for job in old.into_values() {
            self.set.stop(job.statics);
            for (id, _, _task) in job.running {
                self.set.stop(id);
            }
        }
    }

    /// Takes one update; returns the job whose groups changed, or `None` for
    /// an update from a provider that has been stopped.
    pub fn update(&mut self, (id, groups): Update) -> Option<String> {
        self.set.update(id, groups).map(str::to_owned)
    }

    pub fn groups<'s>(&'s self, job: &'s str) -> impl Iterator<Item = &'s Group> + 's {
        self.set.groups(job)
    }

    fn id(&mut self) -> ProviderId {
        self.next_id += 1;
        ProviderId(self.next_id)
    }
}

/// A job's static groups, each with at least one target (an empty group
/// would mean "source removed").
fn static_groups(sc: &crate::config::ScrapeConfig) -> Vec<Group> {
    static_sd::groups(sc).into_iter().filter(|g| !g.targets.is_empty()).collect()
}
