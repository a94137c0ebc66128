//! Timestamps. The store keeps milliseconds since the Unix epoch; APIG prints RFC 3339 in UTC
//! with milliseconds, e.g. `2022-11-02T12:31:23.353Z`.

use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

const RFC3339_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch at `at`, without reading the wall clock on every call: a
/// per-thread anchor (an `Instant` and the wall clock read together) is renewed when `at` is a
/// second or more away from it, so a step of the wall clock shows within a second. The data
/// plane stamps each call this way from the `Instant` it reads anyway.
pub fn millis_at(at: std::time::Instant) -> i64 {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    thread_local! {
        static ANCHOR: Cell<Option<(Instant, i64)>> = const { Cell::new(None) };
    }
    const RENEW: Duration = Duration::from_secs(1);
    ANCHOR.with(|anchor| {
        if let Some((base, base_ms)) = anchor.get() {
            if let Some(ahead) = at.checked_duration_since(base).filter(|d| *d < RENEW) {
                return base_ms + ahead.as_millis() as i64;
            }
        }
        let (base, base_ms) = (Instant::now(), now_millis());
        anchor.set(Some((base, base_ms)));
        match at.checked_duration_since(base) {
            Some(ahead) => base_ms + ahead.as_millis() as i64,
            None => base_ms - base.duration_since(at).as_millis() as i64,
        }
    })
}

/// `millis` as APIG prints times. Written by hand for years 1970..=9999 (every kafka_log
/// message carries one); other instants go through the `time` crate.
pub fn format_millis(millis: i64) -> String {
    match millis_text(millis) {
        Some(text) => String::from_utf8_lossy(&text).into_owned(),
        None => format_with_time_crate(millis),
    }
}

/// [`format_millis`]'s text for years 1970..=9999, without an allocation; `None` otherwise.
pub fn millis_text(millis: i64) -> Option<[u8; 24]> {
    // 10000-01-01T00:00:00Z
    const END: i64 = 253_402_300_800_000;
    if !(0..END).contains(&millis) {
        return None;
    }
    // Calls come many to a second: the text of the last second is kept per thread and only
    // its milliseconds are written again.
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 24])> = const { std::cell::Cell::new((-1, [0; 24])) };
    }
    let (second, ms) = (millis / 1000, millis % 1000);
    let (last, mut out) = LAST.get();
    if last != second {
        out = second_text(second);
        LAST.set((second, out));
    }
    out[20] = b'0' + (ms / 100) as u8;
    out[21] = b'0' + (ms / 10 % 10) as u8;
    out[22] = b'0' + (ms % 10) as u8;
    Some(out)
}

/// The text of the second `second` (seconds since the epoch), its milliseconds left `000`.
fn second_text(second: i64) -> [u8; 24] {
    let millis = second * 1000;
    let (days, ms_of_day) = (millis / 86_400_000, millis % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, sec) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
    );
    let mut out = [0u8; 24];
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, h, 2);
    put(14, min, 2);
    put(17, sec, 2);
    put(20, 0, 3);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = c;
    }
    out
}

/// `millis` as an `X-Sdk-Date` (`20261205T020343Z`), for years 1970..=9999.
pub fn sdk_date(millis: i64) -> Option<[u8; 16]> {
    let t = millis_text(millis)?;
    let mut out = [0u8; 16];
    // 2026-12-05T02:03:43.123Z → 20261205T020343Z
    for (i, at) in [0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 14, 15, 17, 18, 23]
        .into_iter()
        .enumerate()
    {
        out[i] = t[at];
    }
    Some(out)
}

/// Year, month, day of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn format_with_time_crate(millis: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(RFC3339_MILLIS).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_at_follows_the_wall_clock_and_the_instants_given() {
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let (before, at, after) = (now_millis(), millis_at(now), now_millis());
        assert!(
            before - 1 <= at && at <= after + 1,
            "{before} <= {at} <= {after}"
        );
        // Instants later and earlier than the anchor, within and beyond its second.
        // (A renewed anchor may round the other way: a millisecond either side.)
        let close = |got: i64, want: i64| assert!((got - want).abs() <= 1, "{got} vs {want}");
        close(millis_at(now + Duration::from_millis(250)) - at, 250);
        close(millis_at(now + Duration::from_millis(5_000)) - at, 5_000);
        close(at - millis_at(now - Duration::from_millis(1_500)), 1_500);
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format_millis(1_667_392_283_353), "2022-11-02T12:31:23.353Z");
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_hand_written_format_matches_the_time_crate() {
        // Leap days, century rules (2000, 2100), the ends of the range, and a spread between.
        let mut samples = vec![
            0,
            951_782_400_000,     // 2000-02-29
            4_107_542_399_999,   // 2100-02-28T23:59:59.999
            4_107_542_400_000,   // 2100-03-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
        ];
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x.rem_euclid(253_402_300_800_000));
        }
        // Each sample, then the same second's other milliseconds and the next second's first
        // (the kept second is reused, then replaced).
        for ms in samples {
            for ms in [
                ms,
                ms - ms % 1000 + 999,
                ms - ms % 1000,
                ms - ms % 1000 + 1000,
            ] {
                assert_eq!(format_millis(ms), format_with_time_crate(ms), "{ms}");
            }
        }
        assert_eq!(format_millis(-1), format_with_time_crate(-1));
    }

    #[test]
    fn sdk_dates_are_compact_utc_seconds() {
        let text = sdk_date(1_796_436_223_123).unwrap();
        assert_eq!(&text, b"20261205T020343Z");
        assert_eq!(
            crate::sign::parse_sdk_date("20261205T020343Z"),
            Some(1_796_436_223)
        );
        assert_eq!(sdk_date(-1), None);
    }
}
