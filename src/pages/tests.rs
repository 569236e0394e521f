use super::*;

fn get(path: &str, accept: Option<&str>) -> Option<Response> {
    let mut request = Request::new("GET", path);
    if let Some(accept) = accept {
        request.headers.push(("accept".into(), accept.into()));
    }
    answer(&request, &Status::default(), SystemTime::now())
}

#[test]
fn pages_are_html_and_targets_is_text_unless_html_is_asked_for() {
    const BROWSER: &str = "text/html,application/xhtml+xml,*/*;q=0.8";
    for path in ["/", "/targets", "/service-discovery", "/remote-write"] {
        let page = get(path, Some(BROWSER)).expect(path);
        assert_eq!((page.status, page.content_type), (200, "text/html; charset=utf-8"), "{path}");
        let body = String::from_utf8(page.body).unwrap();
        assert!(body.starts_with("<!DOCTYPE html>") && body.ends_with("</html>\n"), "{path}: {body}");
        assert!(
            !body.contains("<script") && !body.contains("src=") && !body.contains("http://"),
            "{path}: self-contained"
        );
    }
    assert_eq!(get("/targets", None).unwrap().content_type, "text/plain; charset=utf-8", "curl gets text");
    assert_eq!(get("/targets", Some("*/*")).unwrap().content_type, "text/plain; charset=utf-8");
    assert!(get("/metrics", Some(BROWSER)).is_none(), "not a page");
    assert!(get("/targets/x", Some(BROWSER)).is_none());
    let post = answer(&Request::new("POST", "/targets"), &Status::default(), SystemTime::now()).unwrap();
    assert_eq!(post.status, 405);
}

#[test]
fn text_is_escaped_for_html() {
    assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

#[test]
fn ages_read_as_a_person_says_them() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    assert_eq!(when(None, now), "never");
    assert_eq!(when(Some(now - Duration::from_millis(83_400)), now), "1m23s ago");
    assert_eq!(when(Some(now + Duration::from_secs(3)), now), "in 3s");
    assert_eq!(whole(Duration::from_millis(12)), "12ms");
}

#[test]
fn a_dropping_rule_reads_as_it_was_written() {
    let rule = serde_json::json!({"source_labels": ["__address__"], "separator": ";", "regex": "127\\.0\\.0\\.1:9",
        "replacement": "$1", "action": "drop"});
    assert_eq!(
        discovery::rule_text(&rule),
        r#"action = "drop", source_labels = ["__address__"], regex = '127\.0\.0\.1:9'"#
    );
}
