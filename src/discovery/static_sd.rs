//! `static_configs`: target groups listed in the configuration. They are
//! known at load, so they need no provider task.

use super::{Group, Target, targets};
use crate::config::ScrapeConfig;
use crate::model::Labels;

/// One group per `static_configs` entry, with source `static/<i>`.
pub fn groups(sc: &ScrapeConfig) -> Vec<Group> {
    sc.static_configs
        .iter()
        .enumerate()
        .map(|(i, group)| Group {
            source: format!("static/{i}"),
            targets: group
                .targets
                .iter()
                .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: Labels::from_pairs(group.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        })
        .collect()
}

/// The targets of one scrape config's static groups, in configuration
/// order, after target relabeling (a target it drops is not there).
pub fn targets(sc: &ScrapeConfig) -> Vec<Target> {
    targets::populate_groups(&groups(sc), sc)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Scheme, StaticConfig};
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[test]
    fn job_instance_and_group_labels() {
        let sc = ScrapeConfig {
            job_name: "node".into(),
            scrape_interval: Duration::from_secs(15),
            scrape_timeout: Duration::from_secs(10),
            metrics_path: "/m".into(),
            scheme: Scheme::Https,
            honor_labels: false,
            honor_timestamps: true,
            sample_limit: 0,
            keep_dropped_targets: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: 0,
            budget: Default::default(),
            params: BTreeMap::new(),
            file_sd_configs: vec![],
            kubernetes_sd_configs: vec![],
            http_sd_configs: vec![],
            static_configs: vec![StaticConfig {
                targets: vec!["10.0.0.1:9100".into(), "[::1]:9100".into()],
                labels: BTreeMap::from([("role".into(), "modem".into()), ("__meta_x".into(), "gone".into())]),
            }],
            relabel_configs: vec![],
            metric_relabel_configs: vec![],
            http_client: Default::default(),
        };
        let t = targets(&sc);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].url, "https://10.0.0.1:9100/m");
        assert_eq!(
            t[0].labels,
            Labels::from_pairs([("instance", "10.0.0.1:9100"), ("job", "node"), ("role", "modem")])
        );
        assert_eq!(t[1].labels.get("instance"), Some("[::1]:9100"));

        let mut own_job = sc.clone();
        own_job.static_configs[0].labels.insert("job".into(), "mine".into());
        assert_eq!(targets(&own_job)[0].labels.get("job"), Some("mine"), "a group label beats job_name");
    }

    /// The snmp_exporter pattern from Prometheus's docs: the address becomes
    /// `__param_target` and `instance`, the exporter becomes the address.
    #[test]
    fn relabel_configs_params_and_url() {
        let toml = r#"
[[remote_write]]
url = "http://127.0.0.1:9090/api/v1/write"
[[scrape_configs]]
job_name = "snmp"
metrics_path = "/snmp"
params = { module = ["if_mib"], auth = ["public v2"] }
[[scrape_configs.static_configs]]
targets = ["10.0.0.1:161", "10.0.0.2:161"]
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
regex = "10\\.0\\.0\\.2:.*"
action = "drop"
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
target_label = "__param_target"
[[scrape_configs.relabel_configs]]
source_labels = ["__param_target"]
target_label = "instance"
[[scrape_configs.relabel_configs]]
target_label = "__address__"
replacement = "127.0.0.1:9116"
"#;
        let config = crate::config::parse(toml, "t.toml").expect("valid");
        let t = targets(&config.scrape_configs[0]);
        assert_eq!(t.len(), 1, "10.0.0.2 is dropped by relabeling");
        assert_eq!(
            t[0].url,
            "http://127.0.0.1:9116/snmp?auth=public%20v2&module=if_mib&target=10.0.0.1%3A161"
        );
        assert_eq!(t[0].labels, Labels::from_pairs([("instance", "10.0.0.1:161"), ("job", "snmp")]));
    }
}
