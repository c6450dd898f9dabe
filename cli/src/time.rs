//! Times as docker prints them: "3 hours ago".

use engine::time::{parse_rfc3339, since};

/// docker's relative form of an RFC 3339 time: "Less than a second ago",
/// "3 hours ago", "About an hour ago", "2 weeks ago".
pub fn ago(created: &str) -> String {
    match parse_rfc3339(created) {
        Some(then) => format!("{} ago", since(then)),
        None => "N/A".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::time::now_secs;

    #[test]
    fn relative_times_read_like_docker() {
        assert_eq!(ago(&engine::time::rfc3339_now()), "Less than a second ago");
        assert_eq!(ago("1970-01-01T00:00:00Z").split(' ').nth(1), Some("years"));
        assert_eq!(ago("not a date"), "N/A");
        assert_eq!(since(now_secs() - 7200), "2 hours");
    }
}
