//! Byte sizes as people type them (`512m`, `16g`) and as docker prints them
//! (decimal units; binary for memory figures).

pub use engine::units::parse_size;

/// `bytes` in the largest of `units` (each `step` times the last) that
/// keeps the number at least 1: the number and the unit's index.
fn scaled(bytes: u64, step: f64, units: usize) -> (f64, usize) {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= step && unit < units - 1 {
        v /= step;
        unit += 1;
    }
    (v, unit)
}

/// Formats bytes with decimal units, as `docker images` does.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let (v, unit) = scaled(bytes, 1000.0, UNITS.len());
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}{}", UNITS[unit]).replace(".000", "")
    }
}

/// Formats bytes with binary units and four significant digits, as
/// `docker stats` shows memory (`3.785MiB`).
pub fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (v, unit) = scaled(bytes, 1024.0, UNITS.len());
    let decimals = match v {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let number = format!("{v:.decimals$}");
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        &number
    };
    format!("{number}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_prints_in_binary_units() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(3_968_860), "3.785MiB");
        assert_eq!(binary_size(1 << 30), "1GiB");
        assert_eq!(binary_size(1536), "1.5KiB");
    }

    #[test]
    fn sizes_print_in_decimal_units() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(7_800_000), "7.800MB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }
}
