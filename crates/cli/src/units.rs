//! Parsing the human-friendly quantities `kwasm run` takes: durations
//! (`--timeout`) and sizes (`--max-memory`).

use std::time::Duration;

/// `500ms`, `2s`, `1m`, `250us`, `100ns`; a bare number is seconds (as in
/// `wasmtime run -W timeout=`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || {
        format!("invalid duration `{s}`: expected a whole number with a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s, 1m")
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "us" | "µs" | "μs" => Duration::from_micros(n),
        "ns" => Duration::from_nanos(n),
        "m" | "min" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok(d)
}

/// Whole nanoseconds of `d` for the ABI; 0 means "no limit" there, so a
/// zero duration is refused rather than silently meaning "forever".
pub fn duration_to_ns(d: Duration) -> Result<u64, String> {
    if d.is_zero() {
        return Err("--timeout must be greater than zero (leave it out for no limit)".into());
    }
    u64::try_from(d.as_nanos()).map_err(|_| format!("--timeout {d:?} is too long (the limit is about 584 years)"))
}

/// `65536`, `64KiB`, `64MiB`, `1G`, `512M`, `4096B`: bytes, or a number with
/// a binary-unit suffix (K/KiB = 1024, M/MiB = 1024², G/GiB = 1024³).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("invalid size `{s}`: expected bytes or a number with K/KiB, M/MiB, G/GiB, e.g. 64MiB");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size `{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_default_to_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn bad_durations_are_refused_with_the_syntax() {
        for bad in ["", "ms", "1.5s", "-1s", "2 weeks", "10x", "s5"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("500ms"), "{bad}: {e}");
        }
        assert!(parse_duration("18446744073709551615m").is_err());
    }

    #[test]
    fn durations_become_nanoseconds_and_zero_is_refused() {
        assert_eq!(duration_to_ns(Duration::from_millis(1500)), Ok(1_500_000_000));
        assert!(duration_to_ns(Duration::ZERO)
            .unwrap_err()
            .contains("greater than zero"));
        assert!(duration_to_ns(Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["", "MiB", "1.5G", "-1", "64MB", "12 parsecs"] {
            assert!(parse_size(bad).unwrap_err().contains("64MiB"), "{bad}");
        }
        assert!(parse_size("18446744073709551615G").unwrap_err().contains("too large"));
    }
}
