//! SIGHUP: what a new configuration may change in a running agent. The
//! buffer, its directory and the queues are built once at start; a change to
//! them is logged as needing a restart and the running value is kept. Pure.

use super::Config;

/// The configuration to run after a reload from `running` to `new`, and one
/// message per change that needs a restart (its old value is kept).
pub fn reconcile(running: &Config, mut new: Config) -> (Config, Vec<String>) {
    let mut restart = Vec::new();
    if new.data_dir != running.data_dir {
        restart.push(format!("data_dir {:?}", new.data_dir.display().to_string()));
        new.data_dir = running.data_dir.clone();
    }
    if new.listen != running.listen {
        let listen = new.listen.map_or("none".to_owned(), |a| a.to_string());
        restart.push(format!("listen {listen}"));
        new.listen = running.listen;
    }
    if new.buffer != running.buffer {
        restart.push("[buffer]".into());
        new.buffer = running.buffer.clone();
    }
    let names = |c: &Config| c.remote_write.iter().map(|rw| rw.name.clone()).collect::<Vec<_>>();
    if names(&new) != names(running) {
        restart.push(format!("remote_write names {:?} (running: {:?})", names(&new), names(running)));
        new.remote_write = running.remote_write.clone();
    }
    for (rw, old) in new.remote_write.iter_mut().zip(&running.remote_write) {
        if rw.queue_config != old.queue_config {
            restart.push(format!("remote_write {} queue_config", rw.name));
            rw.queue_config = old.queue_config.clone();
        }
    }
    let restart = restart
        .into_iter()
        .map(|what| format!("{what} changed: needs a restart; keeping the running value"))
        .collect();
    (new, restart)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
data_dir = "/d"
listen = "127.0.0.1:9464"
[global]
external_labels = { cluster = "a" }
[buffer]
memory = "1MiB"
[[remote_write]]
name = "r"
url = "http://127.0.0.1:9090/api/v1/write"
[[scrape_configs]]
job_name = "node"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:9100"]
"#;

    fn config(text: &str) -> Config {
        crate::config::parse(text, "t.toml").expect("valid")
    }

    #[test]
    fn restart_only_changes_keep_the_running_values() {
        let running = config(BASE);
        let text = BASE
            .replace("/d", "/e")
            .replace("9464", "9465")
            .replace("1MiB", "2MiB")
            .replace("9090/api", "9091/api")
            .replace("cluster = \"a\"", "cluster = \"b\"")
            .replace("[[remote_write]]", "[[remote_write]]\nqueue_config = { max_samples_per_send = 10 }");
        let (effective, restart) = reconcile(&running, config(&text));
        assert_eq!(restart.len(), 4, "{restart:?}");
        assert!(restart.iter().all(|m| m.ends_with("needs a restart; keeping the running value")));
        assert_eq!(effective.data_dir, running.data_dir);
        assert_eq!(effective.listen, running.listen);
        assert_eq!(effective.buffer, running.buffer);
        assert_eq!(effective.remote_write[0].queue_config, running.remote_write[0].queue_config);
        assert_eq!(effective.remote_write[0].url, "http://127.0.0.1:9091/api/v1/write", "applied at once");
        assert_eq!(effective.global.external_labels["cluster"], "b", "applied at once");
    }

    #[test]
    fn renaming_a_remote_write_keeps_the_running_one() {
        let running = config(BASE);
        let (effective, restart) = reconcile(&running, config(&BASE.replace("name = \"r\"", "name = \"s\"")));
        assert_eq!(restart.len(), 1, "{restart:?}");
        assert!(
            restart[0].starts_with("remote_write names [\"s\"] (running: [\"r\"]) changed"),
            "{}",
            restart[0]
        );
        assert_eq!(effective.remote_write, running.remote_write);
    }

    #[test]
    fn each_remote_write_keeps_its_queue_config_and_takes_its_new_url() {
        let second = "[[remote_write]]\nname = \"s\"\nurl = \"http://127.0.0.1:9091/w\"\n[[scrape_configs]]";
        let two = BASE.replacen("[[scrape_configs]]", second, 1);
        let running = config(&two);
        let changed = two
            .replace("9091/w", "9092/w")
            .replace("name = \"s\"", "name = \"s\"\nqueue_config = { max_shards = 2 }");
        let (effective, restart) = reconcile(&running, config(&changed));
        assert_eq!(restart.len(), 1, "{restart:?}");
        assert!(restart[0].starts_with("remote_write s queue_config changed"), "{}", restart[0]);
        assert_eq!(effective.remote_write[1].queue_config, running.remote_write[1].queue_config);
        assert_eq!(effective.remote_write[1].url, "http://127.0.0.1:9092/w", "applied at once");
        assert_eq!(effective.remote_write[0], running.remote_write[0], "the other entry untouched");
        let (_, restart) = reconcile(&running, config(BASE));
        assert!(
            restart[0].starts_with("remote_write names [\"r\"] (running: [\"r\", \"s\"])"),
            "{restart:?}"
        );
    }

    #[test]
    fn scrape_changes_need_no_restart() {
        let running = config(BASE);
        let (effective, restart) = reconcile(&running, config(&BASE.replace("9100", "9101")));
        assert!(restart.is_empty());
        assert_eq!(effective.scrape_configs[0].static_configs[0].targets, ["127.0.0.1:9101"]);
    }
}
