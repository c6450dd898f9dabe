//! Byte sizes as people type them (`512m`, `16g`), for the flags that take
//! them (`--memory`, `--tmpfs size=`, a machine's disk).

/// Parses a size: a number with an optional binary unit suffix `b k m g t`
/// (case-insensitive, an optional trailing `b` or `ib`), as docker's
/// `--memory` and friends accept.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let unitless = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match unitless.char_indices().last() {
        Some((i, 'k')) => (&unitless[..i], 10),
        Some((i, 'm')) => (&unitless[..i], 20),
        Some((i, 'g')) => (&unitless[..i], 30),
        Some((i, 't')) => (&unitless[..i], 40),
        _ => (unitless, 0),
    };
    let number: f64 = match digits.parse() {
        Ok(n) if n >= 0.0 && f64::is_finite(n) => n,
        _ => {
            return Err(format!(
                "invalid size {text:?}: use a number with an optional unit, like 512m or 16g"
            ))
        }
    };
    let bytes = number * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker_flags() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("16G").unwrap(), 16 << 30);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("10kb").unwrap(), 10 << 10);
        for bad in ["", "m", "-1m", "12x", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
