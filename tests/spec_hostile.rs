//! SPEC, "Memory has a budget" and "Bad input gets a clear error": the real binary against
//! targets that try to make it hold too much, and against a second instance on its data_dir.
//! Each case ends with a per-target error (`up` 0, a reason in the log), no panic, and the
//! process's resident memory (VmRSS, polled from /proc/PID/status) under a stated ceiling.
//! Big bodies are generated as they are written, never held by the test.

mod support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::fake::FakeReceiver;
use support::{Child, TempDir, outpost_command, poll_until, start_outpost};

/// A config with one receiver, no targets, and `data_dir` set.
fn idle_config(data_dir: &Path, receiver: &FakeReceiver) -> String {
    format!(
        "data_dir = {:?}\n[[remote_write]]\nname = \"global\"\nurl = \"{}\"\n",
        data_dir.display().to_string(),
        receiver.url()
    )
}

/// The PID written in `dir/lock`, once it is `pid`.
fn wait_lock_holder(dir: &Path, pid: u32) {
    poll_until(Duration::from_secs(10), &format!("{}/lock names pid {pid}", dir.display()), || {
        let text = fs::read_to_string(dir.join("lock")).map_err(|e| e.to_string())?;
        if text.trim() == pid.to_string() { Ok(()) } else { Err(format!("lock says {text:?}")) }
    });
}

/// SPEC: one instance per data_dir. The second start exits 1 naming the directory and the
/// holder's PID; it neither binds `listen` nor touches a segment (Prometheus: "opening storage
/// failed: lock DB directory: resource temporarily unavailable").
#[test]
fn second_instance_on_a_data_dir_exits_1_naming_the_holder() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let data = TempDir::new("lock-data");
    let config = idle_config(data.path(), &receiver);
    let first = start_outpost(&config);
    wait_lock_holder(data.path(), first.pid());
    wait_lock_holder(&data.path().join("global"), first.pid());

    let file = data.path().join("second.toml");
    fs::write(&file, &config).expect("write second.toml");
    let mut second = outpost_command();
    second.arg("--config").arg(&file).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let second = second.spawn().expect("start the second outpost");
    let output = wait_output(second, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "second instance: {stderr}");
    let expected = format!("lock {}: held by another outpost (pid {})", data.path().display(), first.pid());
    assert!(stderr.contains(&expected), "expected {expected:?} in: {stderr}");
    // The first one still holds it and runs.
    wait_lock_holder(data.path(), first.pid());
}

/// SPEC: a stale lock left by a killed process never stops a start: flock is the kernel's and
/// ends with the process; the PID left in the file is only a name.
#[test]
fn lock_of_a_killed_instance_never_stops_a_start() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let data = TempDir::new("lock-stale");
    let config = idle_config(data.path(), &receiver);
    let mut first = start_outpost(&config);
    wait_lock_holder(data.path(), first.pid());
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));
    let stale = fs::read_to_string(data.path().join("lock")).expect("lock file stays");
    assert_eq!(stale.trim(), first.pid().to_string());

    let mut second: Child = start_outpost(&config);
    wait_lock_holder(data.path(), second.pid());
    wait_lock_holder(&data.path().join("global"), second.pid());
    second.assert_running();
}

/// Waits for `child` to exit within `within` (polled), then collects its output.
fn wait_output(mut child: std::process::Child, within: Duration) -> std::process::Output {
    let started = Instant::now();
    for _ in 0..(within.as_millis() / 50 + 1) {
        if child.try_wait().expect("try_wait").is_some() || started.elapsed() >= within {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().expect("try_wait").is_none() {
        let _ = child.kill();
        let output = child.wait_with_output().expect("wait");
        panic!("did not exit within {within:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    child.wait_with_output().expect("collect output")
}
