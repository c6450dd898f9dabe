//! Byte sizes as people type them (`512m`, `16g`) and as docker prints them
//! (decimal units).

pub use engine::units::parse_size;

/// Formats bytes with decimal units, as `docker images` does.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}{}", UNITS[unit]).replace(".000", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_decimal_units() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(7_800_000), "7.800MB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }
}
