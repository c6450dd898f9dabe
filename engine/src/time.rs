//! RFC 3339 timestamps, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn format_rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// With the nine-digit fraction docker prints (ours are whole milliseconds).
pub fn format_rfc3339_ms(ms: u64) -> String {
    let whole = format_rfc3339((ms / 1000) as i64);
    format!(
        "{}.{:09}Z",
        whole.trim_end_matches('Z'),
        (ms % 1000) * 1_000_000
    )
}

pub fn rfc3339_now() -> String {
    format_rfc3339(now_secs())
}

/// Seconds since the epoch now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS...` (UTC; a zone offset
/// is applied when present).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    let mut secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    let tail = &s[19..];
    if let Some(pos) = tail.find(['+', '-']) {
        let zone = &tail[pos..];
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = (
            zone.get(1..3)?.parse::<i64>().ok()?,
            zone.get(4..6)?.parse::<i64>().ok()?,
        );
        secs -= sign * (zh * 3600 + zm * 60);
    }
    Some(secs)
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
    fn round_trips_and_parses_offsets() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn now_parses_back() {
        let now = rfc3339_now();
        assert!(parse_rfc3339(&now).is_some(), "{now}");
    }
}
