use super::*;

#[test]
fn rfc3339_as_go_marshals_time() {
    assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    let t = std::time::UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
    assert_eq!(rfc3339(Some(t)), "2023-11-14T22:13:20.12Z");
    let t = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(rfc3339(Some(t)), "2000-02-29T00:00:00Z");
}
