//! `static_configs`: targets listed in the configuration.

use super::{Limits, Target};
use crate::config::ScrapeConfig;
use crate::model::Labels;

/// The targets of one scrape config, in configuration order.
pub fn targets(sc: &ScrapeConfig) -> Vec<Target> {
    let mut out = Vec::new();
    for group in &sc.static_configs {
        for address in &group.targets {
            // As Prometheus's populateLabels: group labels win over `job`;
            // `instance` defaults to the address.
            let mut labels = Labels::new();
            for (name, value) in &group.labels {
                labels.set(name.clone(), value.clone());
            }
            for (name, value) in [("job", &sc.job_name), ("instance", address)] {
                if labels.get(name).is_none_or(str::is_empty) {
                    labels.set(name.into(), value.clone());
                }
            }
            labels.retain(|l| !l.name.starts_with("__") && !l.value.is_empty());
            out.push(Target {
                labels,
                url: format!("{}://{}{}", sc.scheme.as_str(), address, sc.metrics_path),
                interval: sc.scrape_interval,
                timeout: sc.scrape_timeout,
                honor_labels: sc.honor_labels,
                honor_timestamps: sc.honor_timestamps,
                limits: Limits { sample: sc.sample_limit, ..Limits::default() },
            });
        }
    }
    out
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
            static_configs: vec![StaticConfig {
                targets: vec!["10.0.0.1:9100".into(), "[::1]:9100".into()],
                labels: BTreeMap::from([("role".into(), "modem".into()), ("__meta_x".into(), "gone".into())]),
            }],
            relabel_configs: vec![],
            metric_relabel_configs: vec![],
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
}
