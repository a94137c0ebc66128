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

/// `millis` as APIG prints times.
pub fn format_millis(millis: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(RFC3339_MILLIS).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format_millis(1_667_392_283_353), "2022-11-02T12:31:23.353Z");
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
