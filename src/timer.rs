//! Timers of the executor thread, fired by the thread itself.
//!
//! smol's timers live in async-io's reactor, which async-io's own thread drives while the
//! executor thread parks in a `block_on`: a timer that fires wakes that thread, which wakes
//! the executor's; a timer set on the executor wakes that thread again, to re-arm its
//! timerfd. For one scrape, that was four wake-ups and eight system calls for its timer alone.
//! Here the thread that runs the executor ([`block_on`]) keeps its own timers and parks
//! until the next one is due: a timer costs one wake-up when it fires and no system call when
//! it is set. A [`Timer`] polled on any other thread (a test under `smol::block_on`, a
//! blocking thread) is async-io's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

thread_local! {
    /// The timers of the [`block_on`] running on this thread, if one is.
    static WHEEL: RefCell<Option<Wheel>> = const { RefCell::new(None) };
}

#[derive(Default)]
struct Wheel {
    /// Timers waiting, by deadline and then by a number unique to each.
    waiting: BTreeMap<(Instant, u64), Waker>,
    next: u64,
}

/// A future that completes at its deadline with that deadline (as `smol::Timer`).
pub struct Timer {
    deadline: Option<Instant>,
    state: State,
}

enum State {
    New,
    /// Waiting in this thread's wheel under that key.
    Local((Instant, u64)),
    /// Polled off a [`block_on`] thread.
    Io(smol::Timer),
}

impl Timer {
    pub fn at(deadline: Instant) -> Timer {
        Timer { deadline: Some(deadline), state: State::New }
    }

    /// `Instant::now() + after`; one too far to represent never fires.
    pub fn after(after: Duration) -> Timer {
        Timer { deadline: Instant::now().checked_add(after), state: State::New }
    }

    fn leave_wheel(&mut self) {
        if let State::Local(key) = std::mem::replace(&mut self.state, State::New) {
            // At thread exit the wheel may be gone already: nothing is left to remove.
            let _ = WHEEL.try_with(|w| w.borrow_mut().as_mut().map(|wheel| wheel.waiting.remove(&key)));
        }
    }
}

impl Future for Timer {
    type Output = Instant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let this = self.get_mut();
        if let State::Io(timer) = &mut this.state {
            return Pin::new(timer).poll(cx);
        }
        let Some(deadline) = this.deadline else {
            // Never fires: nothing to register, as smol's `Timer::never`.
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            this.leave_wheel();
            return Poll::Ready(deadline);
        }
        let registered = WHEEL.with(|w| {
            let mut w = w.borrow_mut();
            let wheel = w.as_mut()?;
            match &this.state {
                State::Local(key) => match wheel.waiting.get_mut(key) {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    Some(waker) => waker.clone_from(cx.waker()),
                    // Fired, yet polled before its deadline: cannot happen (a timer fires
                    // only once due), but registering again is right whatever the cause.
                    None => drop(wheel.waiting.insert(*key, cx.waker().clone())),
                },
                _ => {
                    let key = (deadline, wheel.next);
                    wheel.next += 1;
                    wheel.waiting.insert(key, cx.waker().clone());
                    this.state = State::Local(key);
                }
            }
            Some(())
        });
        if registered.is_none() {
            let mut timer = smol::Timer::at(deadline);
            let poll = Pin::new(&mut timer).poll(cx);
            this.state = State::Io(timer);
            return poll;
        }
        Poll::Pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.leave_wheel();
    }
}

/// Wakes the thread parked in [`block_on`] (std's park token: a wake before the park is kept).
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, which fires the [`Timer`]s polled here and
/// parks until the next one is due or a waker calls.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let _restore = Restore(WHEEL.with(|w| w.replace(Some(Wheel::default()))));
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        match fire_due(Instant::now()) {
            Due::Fired => continue,
            Due::Next(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            Due::Never => std::thread::park(),
        }
    }
}

enum Due {
    /// Timers fired: their tasks want polling.
    Fired,
    /// None fired; the next is due then.
    Next(Instant),
    Never,
}

/// Wakes every timer due at `now` (outside the wheel's borrow: a waker may poll nothing
/// here, but it must not find the wheel borrowed either way).
fn fire_due(now: Instant) -> Due {
    let mut fired = Vec::new();
    let next = WHEEL.with(|w| {
        let mut w = w.borrow_mut();
        let wheel = w.as_mut()?;
        while let Some(entry) = wheel.waiting.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            fired.push(entry.remove());
        }
        None
    });
    if !fired.is_empty() {
        fired.into_iter().for_each(Waker::wake);
        return Due::Fired;
    }
    next.map_or(Due::Never, Due::Next)
}

/// Puts back the wheel of an enclosing `block_on` (none, at the outermost).
struct Restore(Option<Wheel>);

impl Drop for Restore {
    fn drop(&mut self) {
        let outer = self.0.take();
        let _ = WHEEL.try_with(|w| *w.borrow_mut() = outer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_at_or_after_their_deadlines() {
        let start = Instant::now();
        let ex = smol::LocalExecutor::new();
        let order = std::rc::Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = [30u64, 10, 20, 10]
            .into_iter()
            .enumerate()
            .map(|(i, ms)| {
                let order = order.clone();
                ex.spawn(async move {
                    let deadline = Timer::after(Duration::from_millis(ms)).await;
                    assert!(Instant::now() >= deadline);
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        block_on(ex.run(async {
            for task in tasks {
                task.await;
            }
        }));
        assert_eq!(*order.borrow(), [1, 3, 2, 0]);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(30) && took < Duration::from_secs(5), "{took:?}");
        WHEEL.with(|w| assert!(w.borrow().is_none(), "the wheel is put away after block_on"));
    }

    #[test]
    fn a_dropped_timer_leaves_the_wheel_and_a_past_deadline_is_ready_at_once() {
        block_on(async {
            let mut early = Timer::after(Duration::from_secs(3600));
            assert!(poll_once(&mut early).is_pending());
            WHEEL.with(|w| assert_eq!(w.borrow().as_ref().map(|w| w.waiting.len()), Some(1)));
            drop(early);
            WHEEL.with(|w| assert_eq!(w.borrow().as_ref().map(|w| w.waiting.len()), Some(0)));
            let past = Instant::now() - Duration::from_millis(5);
            assert_eq!(Timer::at(past).await, past);
            // Too far to represent: never fires, registers nothing.
            let mut never = Timer::after(Duration::MAX);
            assert!(poll_once(&mut never).is_pending());
            WHEEL.with(|w| assert_eq!(w.borrow().as_ref().map(|w| w.waiting.len()), Some(0)));
        });
    }

    #[test]
    fn wakes_from_other_threads_reach_the_parked_thread() {
        let (tx, rx) = smol::channel::bounded(1);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send_blocking(7).expect("receiver waits");
        });
        let start = Instant::now();
        // A far timer keeps the thread parked with a deadline; the channel's waker ends it.
        let got = block_on(smol::future::or(async { rx.recv().await.ok() }, async {
            Timer::after(Duration::from_secs(30)).await;
            None
        }));
        assert_eq!(got, Some(7));
        assert!(start.elapsed() < Duration::from_secs(10));
        sender.join().expect("sender thread");
    }

    #[test]
    fn off_a_block_on_thread_a_timer_is_async_ios() {
        let start = Instant::now();
        let deadline = smol::block_on(Timer::after(Duration::from_millis(10)));
        assert!(Instant::now() >= deadline && deadline >= start + Duration::from_millis(10));
    }

    /// Polls `f` once with a waker that does nothing.
    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(f).poll(&mut cx)
    }
}
