//! Blocking work (HTTP requests through ureq, file reads, bcrypt) runs off the executor
//! thread on a pool of our own: at most `max_threads` threads, each started when a job finds
//! no idle one and then kept, parked on a condition variable, for the life of the process.
//!
//! `smol::unblock` would do the same on `blocking`'s pool, but that pool lets a thread go
//! after 500 ms idle, so a scrape or send each second started a thread every time (clone,
//! stack and TLS set-up on every request). Here a scrape costs two hand-offs: the job to a
//! parked worker, the result back to the executor.
//!
//! A job holds its permit until it finishes, even when the future that started it was
//! dropped (a target removed mid-scrape): busy threads never exceed `max_threads`.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use smol::lock::{Semaphore, SemaphoreGuardArc};

/// The work, and the permit it holds until the thread that ran it is ready for the next. The
/// work returns the hand-over of its result, which the thread calls under the pool's lock.
type Job = (Box<dyn FnOnce() -> Deliver + Send>, SemaphoreGuardArc);
type Deliver = Box<dyn FnOnce() + Send>;

pub struct Offload {
    permits: Arc<Semaphore>,
    pool: Arc<Pool>,
}

struct Pool {
    max_threads: usize,
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Threads waiting on `ready`, and how many of them have been woken for a job already.
    idle: usize,
    woken: usize,
}

impl Offload {
    pub fn new(max_threads: usize) -> Self {
        let max_threads = max_threads.max(1);
        Offload {
            permits: Arc::new(Semaphore::new(max_threads)),
            pool: Arc::new(Pool { max_threads, state: Mutex::default(), ready: Condvar::new() }),
        }
    }

    /// Runs `work` on a pool thread once a permit is free.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let permit = self.permits.acquire_arc().await;
        let (done, result) = smol::channel::bounded(1);
        let job = move || -> Deliver {
            let result = work();
            // Capacity 1 and one send: this cannot be full; a closed channel means the
            // caller went away, and the result is not wanted.
            Box::new(move || drop(done.try_send(result)))
        };
        self.pool.submit((Box::new(job), permit));
        // The sender is dropped unsent only if `work` panicked on the pool thread.
        result.recv().await.expect("offloaded work panicked")
    }

    /// Pool threads started so far (they are never stopped).
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.pool.lock().threads
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A job runs outside the lock, so no panic can leave the state half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.jobs.push_back(job);
        if state.idle > state.woken {
            state.woken += 1;
            // Woken after the unlock: a thread woken under the lock would find it held, sleep
            // on the mutex and be woken a second time (three futex calls and two wake-ups of
            // that thread per job instead of one of each).
            drop(state);
            self.ready.notify_one();
            return;
        }
        // Permits bound the jobs in flight to `max_threads`, so this is reached only when
        // every thread is busy and one more may start.
        if state.threads < self.max_threads {
            let pool = self.clone();
            match std::thread::Builder::new().name("outpost-blocking".into()).spawn(move || pool.work()) {
                Ok(_) => state.threads += 1,
                // Without a new thread the job waits for a busy one; with none at all, it
                // runs here, on the executor, rather than never.
                Err(e) if state.threads == 0 => {
                    log::warn!("cannot start a blocking thread ({e}); running the work inline");
                    let (job, permit) = state.jobs.pop_back().expect("pushed above");
                    drop(state);
                    job()();
                    drop(permit);
                }
                Err(e) => log::warn!("cannot start a blocking thread ({e}); the work waits for a busy one"),
            }
        }
    }

    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some((job, permit)) = state.jobs.pop_front() {
                drop(state);
                let deliver = job();
                // The permit and the result go back under the lock: whoever gets them and
                // submits again finds this thread idle (it counts itself so before it
                // unlocks) or a job it will take, so one caller after another never starts
                // a second thread.
                state = self.lock();
                drop(permit);
                deliver();
                continue;
            }
            state.idle += 1;
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
            // A spurious wake-up may take another's token; the bound on threads holds anyway.
            state.woken = state.woken.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn threads_are_kept_and_reused() {
        let offload = Offload::new(4);
        smol::block_on(async {
            for i in 0..50 {
                assert_eq!(offload.run(move || i * 2).await, i * 2);
            }
        });
        // One at a time: one thread did it all, and it is still there.
        assert_eq!(offload.threads(), 1);
    }

    #[test]
    fn concurrency_is_bounded_by_the_permits() {
        let offload = Offload::new(3);
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        smol::block_on(async {
            let jobs = (0..12).map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                offload.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            });
            futures_join_all(jobs.collect()).await;
        });
        assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
        assert!(peak.load(Ordering::SeqCst) >= 2, "the jobs ran one at a time");
        assert!(offload.threads() <= 3);
    }

    #[test]
    fn a_dropped_caller_keeps_its_permit_until_the_work_ends() {
        let offload = Offload::new(1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        smol::block_on(async {
            // Started, then abandoned while the work blocks.
            let first = offload.run(move || {
                let _ = wait.recv_timeout(Duration::from_secs(10));
            });
            let abandoned = smol::future::or(first, async {
                smol::Timer::after(Duration::from_millis(50)).await;
            });
            abandoned.await;
            assert!(offload.permits.try_acquire().is_none(), "the permit left with the caller");
            release.send(()).expect("work waits");
            assert_eq!(offload.run(|| 7).await, 7);
        });
        assert_eq!(offload.threads(), 1);
    }

    /// Polls every future to completion on this thread (no extra crate for join_all).
    async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
        let ex = smol::LocalExecutor::new();
        let tasks: Vec<_> = futures.into_iter().map(|f| ex.spawn(f)).collect();
        ex.run(async {
            for task in tasks {
                task.await;
            }
        })
        .await;
    }
}
