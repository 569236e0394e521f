//! The running configuration as `/api/v1/status/config` shows it: every key
//! with its default applied, in YAML under Prometheus's key names (the TOML
//! schema uses them), as Prometheus shows its own. Every credential, private
//! key, header value and URL password is `<secret>`. Pure.

use crate::yaml::emit::{self, Map, Value};

use crate::config::{Auth, Config, HttpClientConfig, Pem, ScrapeConfig, Secret, duration};
use crate::relabel::Rule;

pub const SECRET: &str = "<secret>";

/// The YAML text of `config`.
pub fn yaml(config: &Config) -> String {
    let mut top = Map::default();
    top.put("data_dir", config.data_dir.display().to_string());
    if let Some(listen) = config.listen {
        top.put("listen", listen.to_string());
    }
    top.put("log_level", config.log_level.as_str().to_ascii_lowercase());
    let mut global = Map::default();
    global.put("scrape_interval", duration::format(config.global.scrape_interval));
    global.put("scrape_timeout", duration::format(config.global.scrape_timeout));
    global.put("external_labels", pairs(config.global.external_labels.iter()));
    top.put("global", global);
    let b = &config.buffer;
    let mut buffer = Map::default();
    buffer.put("memory", b.memory);
    buffer.put("disk", b.disk);
    buffer.put("segment", b.segment);
    buffer.put("max_age", duration::format(b.max_age));
    buffer.put("sync_interval", duration::format(b.sync_interval));
    buffer.put(
        "persist",
        match b.persist {
            crate::config::Persist::Outage => "outage",
            crate::config::Persist::Always => "always",
        },
    );
    top.put("buffer", buffer);
    let remote_write: Vec<Value> = config
        .remote_write
        .iter()
        .map(|rw| {
            let mut m = Map::default();
            m.put("name", rw.name.as_str());
            m.put("url", redact_url(&rw.url));
            m.put("remote_timeout", duration::format(rw.remote_timeout));
            m.put("headers", pairs(rw.headers.keys().map(|k| (k, SECRET))));
            let q = &rw.queue_config;
            let mut queue = Map::default();
            queue.put("max_samples_per_send", q.max_samples_per_send as u64);
            queue.put("batch_send_deadline", duration::format(q.batch_send_deadline));
            queue.put("min_shards", q.min_shards as u64);
            queue.put("max_shards", q.max_shards as u64);
            queue.put("min_backoff", duration::format(q.min_backoff));
            queue.put("max_backoff", duration::format(q.max_backoff));
            queue.put("retry_on_http_429", q.retry_on_http_429);
            queue.put("rate_limit", q.rate_limit);
            m.put("queue_config", queue);
            let mut meta = Map::default();
            meta.put("send", rw.metadata_config.send);
            meta.put("send_interval", duration::format(rw.metadata_config.send_interval));
            meta.put("max_samples_per_send", rw.metadata_config.max_samples_per_send as u64);
            m.put("metadata_config", meta);
            m.put("write_relabel_configs", rules(&rw.write_relabel_configs));
            http_client(&mut m, &rw.http_client);
            Value::Map(m)
        })
        .collect();
    top.put("remote_write", remote_write);
    let jobs: Vec<Value> = config.scrape_configs.iter().map(scrape_config).collect();
    top.put("scrape_configs", jobs);
    emit::to_string(&Value::Map(top))
}

fn scrape_config(sc: &ScrapeConfig) -> Value {
    let mut m = Map::default();
    m.put("job_name", sc.job_name.as_str());
    m.put("scrape_interval", duration::format(sc.scrape_interval));
    m.put("scrape_timeout", duration::format(sc.scrape_timeout));
    m.put("metrics_path", sc.metrics_path.as_str());
    m.put("scheme", sc.scheme.as_str());
    m.put("honor_labels", sc.honor_labels);
    m.put("honor_timestamps", sc.honor_timestamps);
    m.put("sample_limit", sc.sample_limit as u64);
    m.put("label_limit", sc.label_limit as u64);
    m.put("label_name_length_limit", sc.label_name_length_limit as u64);
    m.put("label_value_length_limit", sc.label_value_length_limit as u64);
    m.put("body_size_limit", sc.body_size_limit);
    m.put("keep_dropped_targets", sc.keep_dropped_targets as u64);
    if !sc.params.is_empty() {
        let mut params = Map::default();
        for (k, v) in &sc.params {
            params.put(k, v.iter().map(|s| Value::from(s.as_str())).collect::<Vec<_>>());
        }
        m.put("params", params);
    }
    http_client(&mut m, &sc.http_client);
    let statics: Vec<Value> = sc
        .static_configs
        .iter()
        .map(|s| {
            let mut sm = Map::default();
            sm.put("targets", s.targets.iter().map(|t| Value::from(t.as_str())).collect::<Vec<_>>());
            sm.put("labels", pairs(s.labels.iter()));
            Value::Map(sm)
        })
        .collect();
    if !statics.is_empty() {
        m.put("static_configs", statics);
    }
    let files: Vec<Value> = sc
        .file_sd_configs
        .iter()
        .map(|f| {
            let mut fm = Map::default();
            let names: Vec<Value> = f.files.iter().map(|p| Value::from(p.display().to_string())).collect();
            fm.put("files", names);
            fm.put("refresh_interval", duration::format(f.refresh_interval));
            Value::Map(fm)
        })
        .collect();
    if !files.is_empty() {
        m.put("file_sd_configs", files);
    }
    let kubernetes: Vec<Value> = sc
        .kubernetes_sd_configs
        .iter()
        .map(|k| {
            let mut km = Map::default();
            km.put("role", k.role.as_str());
            if let Some(api) = &k.api_server {
                km.put("api_server", redact_url(api));
            }
            if let Some(file) = &k.kubeconfig_file {
                km.put("kubeconfig_file", file.display().to_string());
            }
            if !k.namespaces.is_empty() || k.own_namespace {
                let mut ns = Map::default();
                ns.put("own_namespace", k.own_namespace);
                ns.put("names", k.namespaces.iter().map(|n| Value::from(n.as_str())).collect::<Vec<_>>());
                km.put("namespaces", ns);
            }
            if !k.label_selector.is_empty() {
                km.put("label_selector", k.label_selector.as_str());
            }
            if !k.field_selector.is_empty() {
                km.put("field_selector", k.field_selector.as_str());
            }
            http_client(&mut km, &k.http_client);
            Value::Map(km)
        })
        .collect();
    if !kubernetes.is_empty() {
        m.put("kubernetes_sd_configs", kubernetes);
    }
    m.put("relabel_configs", rules(&sc.relabel_configs));
    m.put("metric_relabel_configs", rules(&sc.metric_relabel_configs));
    Value::Map(m)
}

/// `basic_auth` / `authorization` and `tls_config`, as Prometheus's
/// `HTTPClientConfig` shows them: inline secrets `<secret>`, files by path.
fn http_client(m: &mut Map, client: &HttpClientConfig) {
    match &client.auth {
        None => {}
        Some(Auth::Basic { username, password }) => {
            let mut basic = Map::default();
            match username {
                Secret::Inline(name) => basic.put("username", name.as_str()),
                Secret::File(path) => basic.put("username_file", path.display().to_string()),
            }
            secret(&mut basic, "password", password.as_ref());
            m.put("basic_auth", basic);
        }
        Some(Auth::Credentials { scheme, credentials }) => {
            let mut auth = Map::default();
            auth.put("type", scheme.as_str());
            secret(&mut auth, "credentials", credentials.as_ref());
            m.put("authorization", auth);
        }
    }
    let tls = &client.tls;
    let mut t = Map::default();
    let pem = |t: &mut Map, key: &str, pem: &Option<Pem>, hidden: bool| match pem {
        None => {}
        Some(Pem::File(path)) => t.put(&format!("{key}_file"), path.display().to_string()),
        Some(Pem::Inline(bytes)) if !hidden => t.put(key, String::from_utf8_lossy(bytes).into_owned()),
        Some(Pem::Inline(_)) => t.put(key, SECRET),
    };
    pem(&mut t, "ca", &tls.ca, false);
    pem(&mut t, "cert", &tls.cert, false);
    pem(&mut t, "key", &tls.key, true);
    if let Some(name) = &tls.server_name {
        t.put("server_name", name.as_str());
    }
    t.put("insecure_skip_verify", tls.insecure_skip_verify);
    m.put("tls_config", t);
}

fn secret(m: &mut Map, key: &str, secret: Option<&Secret>) {
    match secret {
        None => {}
        Some(Secret::Inline(_)) => m.put(key, SECRET),
        Some(Secret::File(path)) => m.put(&format!("{key}_file"), path.display().to_string()),
    }
}

/// Each rule as Prometheus's `relabel.Config` shows it (every default filled in).
fn rules(rules: &[Rule]) -> Vec<Value> {
    rules.iter().map(|r| Value::Map(rule(r))).collect()
}

fn rule(rule: &Rule) -> Map {
    let shown = rule.shown();
    let mut m = Map::default();
    let sources = shown.source_labels.unwrap_or_default();
    if !sources.is_empty() {
        m.put("source_labels", sources.into_iter().map(Value::from).collect::<Vec<_>>());
    }
    m.put("separator", shown.separator.unwrap_or_default());
    m.put("regex", shown.regex.unwrap_or_default());
    if let Some(modulus) = shown.modulus.filter(|m| *m > 0) {
        m.put("modulus", modulus);
    }
    let target = shown.target_label.unwrap_or_default();
    if !target.is_empty() {
        m.put("target_label", target);
    }
    m.put("replacement", shown.replacement.unwrap_or_default());
    m.put("action", shown.action.unwrap_or_default());
    m
}

/// A rule as the relabel-steps API shows it: Prometheus's JSON field names.
pub fn rule_json(rule: &Rule) -> serde_json::Value {
    let shown = rule.shown();
    let mut m = serde_json::Map::new();
    let sources = shown.source_labels.unwrap_or_default();
    if !sources.is_empty() {
        m.insert("source_labels".into(), sources.into());
    }
    m.insert("separator".into(), shown.separator.unwrap_or_default().into());
    m.insert("regex".into(), shown.regex.unwrap_or_default().into());
    if let Some(modulus) = shown.modulus.filter(|m| *m > 0) {
        m.insert("modulus".into(), modulus.into());
    }
    let target = shown.target_label.unwrap_or_default();
    if !target.is_empty() {
        m.insert("target_label".into(), target.into());
    }
    m.insert("replacement".into(), shown.replacement.unwrap_or_default().into());
    m.insert("action".into(), shown.action.unwrap_or_default().into());
    serde_json::Value::Object(m)
}

/// A URL with any password in it replaced by `<secret>`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{SECRET}@{host}{tail}"),
        None => url.to_owned(),
    }
}

fn pairs<'a, K: AsRef<str> + 'a, V: AsRef<str> + 'a>(items: impl Iterator<Item = (K, V)>) -> Map {
    let mut m = Map::default();
    for (k, v) in items {
        m.put(k.as_ref(), v.as_ref());
    }
    m
}
