//! Blocking work (HTTP requests through ureq) runs off the executor thread on
//! `blocking`'s pool, behind a semaphore that bounds how many run at once
//! (the pool's own limit is 500 threads: STYLE, "Pitfalls").

use smol::lock::Semaphore;

pub struct Offload {
    permits: Semaphore,
}

impl Offload {
    pub fn new(max_threads: usize) -> Self {
        Offload { permits: Semaphore::new(max_threads.max(1)) }
    }

    /// Runs `work` on a blocking thread once a permit is free.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self.permits.acquire().await;
        smol::unblock(work).await
    }
}
