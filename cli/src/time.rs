//! Times as docker prints them: "3 hours ago".

use engine::time::{now_secs, parse_rfc3339};

/// docker's relative form of an RFC 3339 time: "Less than a second ago",
/// "3 hours ago", "About an hour ago", "2 weeks ago".
pub fn ago(created: &str) -> String {
    match parse_rfc3339(created) {
        Some(then) => format!("{} ago", since(then)),
        None => "N/A".into(),
    }
}

/// docker's human duration from `then` (Unix seconds) to now: "3 hours".
pub fn since(then: i64) -> String {
    let s = (now_secs() - then).max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".to_string(),
        120..=3599 => format!("{m} minutes"),
        3600..=5399 => "About an hour".to_string(),
        5400..=172_799 => format!("{h} hours"),
        172_800..=1_209_599 => format!("{d} days"),
        1_209_600..=7_775_999 => format!("{} weeks", d / 7),
        7_776_000..=63_071_999 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_like_docker() {
        assert_eq!(ago(&engine::time::rfc3339_now()), "Less than a second ago");
        assert_eq!(ago("1970-01-01T00:00:00Z").split(' ').nth(1), Some("years"));
        assert_eq!(ago("not a date"), "N/A");
        assert_eq!(since(now_secs() - 7200), "2 hours");
    }
}
