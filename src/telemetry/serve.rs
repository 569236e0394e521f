//! What `listen` answers besides the server's own paths (`web`): the pages
//! (`pages`), the read API (`status::api`), `/metrics`, `/-/healthy`, `/-/ready`.
//!
//! `/-/ready` answers 503 while [`Telemetry::ready`] is false: during start
//! (the configuration is loaded, the buffers are being recovered) and once
//! stopping; `/-/healthy` answers 200 whenever the process answers at all.

use std::time::SystemTime;

use crate::web::{Request, Response};

use super::Telemetry;

/// Answers a request the web server passed on (`web::serve`); HEAD is
/// answered as GET (the server sends the head only).
pub fn answer(request: &Request, telemetry: &Telemetry) -> Response {
    if let Some(page) = crate::pages::answer(request, &telemetry.status, SystemTime::now()) {
        return page;
    }
    let method = if request.method == "HEAD" { "GET" } else { request.method.as_str() };
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let (status, content_type, body) = route(method, &target, telemetry);
    let code = status.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(500);
    Response::new(code, content_type, body)
}

fn route(method: &str, path: &str, telemetry: &Telemetry) -> (&'static str, &'static str, String) {
    if let Some(answer) = crate::status::api::answer(method, path, &telemetry.status, SystemTime::now()) {
        return answer;
    }
    if method != "GET" {
        return ("405 Method Not Allowed", "text/plain", "method not allowed\n".into());
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", telemetry.render()),
        "/-/healthy" => ("200 OK", "text/plain", "outpost is healthy.\n".into()),
        "/-/ready" if telemetry.ready.get() => ("200 OK", "text/plain", "outpost is ready.\n".into()),
        "/-/ready" => ("503 Service Unavailable", "text/plain", "outpost is not ready.\n".into()),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn ready_answers_503_until_the_pipeline_runs() {
        let telemetry = Telemetry {
            queues: Vec::new(),
            scrapes: Rc::default(),
            start_time_seconds: 0.0,
            ready: Cell::new(false),
            status: Rc::default(),
        };
        assert_eq!(route("GET", "/-/ready", &telemetry).0, "503 Service Unavailable");
        assert_eq!(route("GET", "/-/healthy", &telemetry).0, "200 OK", "healthy while starting");
        let (status, _, metrics) = route("GET", "/metrics", &telemetry);
        assert_eq!(status, "200 OK");
        assert!(metrics.contains("process_start_time_seconds"), "process metrics while starting: {metrics}");
        telemetry.ready.set(true);
        assert_eq!(route("GET", "/-/ready", &telemetry).0, "200 OK");
        assert_eq!(route("GET", "/-/ready?x=1", &telemetry).0, "200 OK");
        assert_eq!(route("GET", "/-/readyz", &telemetry).0, "404 Not Found");
    }
}
