//! sd_notify without a crate: `READY=1`, `WATCHDOG=1`, `STOPPING=1` as
//! datagrams to `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace). Outside systemd every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    if let Err(e) = notify_to(&path, state) {
        log::warn!("sd_notify {state}: {e}");
    }
}

fn notify_to(path: &std::ffi::OsStr, state: &str) -> std::io::Result<usize> {
    UnixDatagram::unbound().and_then(|socket| {
        let bytes = path.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)
            }
            None => socket.send_to(state.as_bytes(), path),
        }
    })
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, if systemd set it
/// for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("outpost-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).expect("bind");
        notify_to(path.as_os_str(), "READY=1").expect("sent");
        let mut buf = [0u8; 16];
        let n = listener.recv(&mut buf).expect("datagram");
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("@outpost-test-{}", std::process::id());
        let abstract_listener = {
            use std::os::linux::net::SocketAddrExt;
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]).expect("name");
            UnixDatagram::bind_addr(&addr).expect("bind abstract")
        };
        notify_to(std::ffi::OsStr::new(&name), "WATCHDOG=1").expect("sent");
        let n = abstract_listener.recv(&mut buf).expect("datagram");
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
