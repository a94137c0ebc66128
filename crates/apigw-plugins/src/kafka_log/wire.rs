//! The Kafka protocol as the producer speaks it: the few requests it sends (ApiVersions,
//! Metadata, Produce, SaslHandshake, SaslAuthenticate) in their non-flexible versions, their
//! responses, and the record batch (format v2, no compression) that carries the messages.
//!
//! A call's message is written once into the record batch of the request that will carry it
//! (`ProduceRequest::push`), and the same bytes are sent again on a retry.

/// The API keys used.
pub(super) const PRODUCE: i16 = 0;
pub(super) const METADATA: i16 = 3;
pub(super) const SASL_HANDSHAKE: i16 = 17;
pub(super) const API_VERSIONS: i16 = 18;
pub(super) const SASL_AUTHENTICATE: i16 = 36;

/// The client id sent in every request header.
const CLIENT_ID: &[u8] = b"apigw";

/// A request being written into its frame: the size prefix is filled in by [`Frame::finish`].
pub(super) struct Frame {
    out: Vec<u8>,
}

impl Frame {
    /// A request with header v1 (`api_key`, `version`, `correlation_id`, client id).
    pub(super) fn new(api_key: i16, version: i16, correlation_id: i32, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 14 + CLIENT_ID.len());
        out.extend_from_slice(&[0; 4]);
        let mut f = Self { out };
        f.i16(api_key);
        f.i16(version);
        f.i32(correlation_id);
        f.bytes16(CLIENT_ID);
        f
    }

    pub(super) fn i8(&mut self, v: i8) {
        self.out.push(v as u8);
    }
    pub(super) fn i16(&mut self, v: i16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    /// A `STRING` (i16 length, then the bytes).
    pub(super) fn bytes16(&mut self, v: &[u8]) {
        self.i16(v.len() as i16);
        self.out.extend_from_slice(v);
    }
    /// `BYTES` (i32 length, then the bytes).
    pub(super) fn bytes32(&mut self, v: &[u8]) {
        self.i32(v.len() as i32);
        self.out.extend_from_slice(v);
    }

    /// The finished frame, its size prefix filled in.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let size = (self.out.len() - 4) as i32;
        self.out[..4].copy_from_slice(&size.to_be_bytes());
        self.out
    }
}

/// A response body being read; every read checks the length left.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

pub(super) type Result<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err("truncated response from the broker".into());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(super) fn i8(&mut self) -> Result<i8> {
        Ok(self.take(1)?[0] as i8)
    }
    pub(super) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    pub(super) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    pub(super) fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
    /// A `STRING` or `NULLABLE_STRING` (`None` for null).
    pub(super) fn string(&mut self) -> Result<Option<&'a str>> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        std::str::from_utf8(self.take(n as usize)?)
            .map(Some)
            .map_err(|_| "a string in the broker's response is not UTF-8".into())
    }
    /// `BYTES` or `NULLABLE_BYTES` (empty for null).
    pub(super) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.i32()?;
        self.take(n.max(0) as usize)
    }
    /// An array's length (null counts as empty); each element takes at least one byte, so a
    /// length beyond what is left is refused before anything is allocated for it.
    pub(super) fn array(&mut self) -> Result<usize> {
        let n = self.i32()?.max(0) as usize;
        if n > self.buf.len() {
            return Err("an array in the broker's response is longer than the response".into());
        }
        Ok(n)
    }
}

/// The name of a Kafka error code the producer may meet (the number otherwise).
pub(super) fn error_name(code: i16) -> String {
    let name = match code {
        1 => "OFFSET_OUT_OF_RANGE",
        2 => "CORRUPT_MESSAGE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        10 => "MESSAGE_TOO_LARGE",
        19 => "NOT_ENOUGH_REPLICAS",
        20 => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        33 => "UNSUPPORTED_SASL_MECHANISM",
        34 => "ILLEGAL_SASL_STATE",
        35 => "UNSUPPORTED_VERSION",
        58 => "SASL_AUTHENTICATION_FAILED",
        87 => "INVALID_RECORD",
        _ => return format!("error code {code}"),
    };
    name.into()
}

/// Appends `v` zigzag-encoded as a varint (Kafka's `VARINT` and `VARLONG`).
fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// How many bytes [`varint`] writes for `v`.
fn varint_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of a record batch before its records.
const BATCH_HEADER: usize = 61;
/// Where the CRC-covered part of a batch starts (the attributes, after the CRC itself).
const CRC_FROM: usize = 21;

/// A Produce request (v3 to v7 have the same body) of one record batch (magic 2, no
/// compression, no producer id) to one partition; acks from all in-sync replicas.
///
/// Records are appended one by one behind room for the request's head and the batch's header;
/// [`ProduceRequest::finish`] writes the batch header once the records are in, and each attempt
/// writes the request's head in place (its version, correlation id and partition may differ):
/// the records are written once, and a retry sends the same bytes.
pub(super) struct ProduceRequest {
    out: Vec<u8>,
    /// The head's length: everything before the batch.
    head: usize,
    count: i32,
}

impl ProduceRequest {
    /// An empty request to `topic`, written into `buf` (cleared; its capacity is reused).
    pub(super) fn new(topic: &str, mut buf: Vec<u8>) -> Self {
        let head = Self::write_head(topic, 0, 0, 0, 0, 0).len();
        buf.clear();
        buf.resize(head + BATCH_HEADER, 0);
        Self {
            out: buf,
            head,
            count: 0,
        }
    }

    /// Appends `value` as the next record, with `key`, the batch's timestamp and no headers.
    pub(super) fn push(&mut self, key: Option<&[u8]>, value: &[u8]) {
        let key_len = key.map_or(-1, |k| k.len() as i64);
        let key_bytes = key.unwrap_or_default();
        let offset_delta = self.count as i64;
        // attributes, timestamp delta (0), offset delta, key, value, header count (0)
        let body = 1
            + 1
            + varint_len(offset_delta)
            + varint_len(key_len)
            + key_bytes.len()
            + varint_len(value.len() as i64)
            + value.len()
            + 1;
        let out = &mut self.out;
        out.reserve(body + 3);
        varint(out, body as i64);
        out.push(0);
        varint(out, 0);
        varint(out, offset_delta);
        varint(out, key_len);
        out.extend_from_slice(key_bytes);
        varint(out, value.len() as i64);
        out.extend_from_slice(value);
        varint(out, 0);
        self.count += 1;
    }

    /// Records appended.
    pub(super) fn len(&self) -> usize {
        self.count as usize
    }

    /// Bytes of the records appended.
    pub(super) fn records_bytes(&self) -> usize {
        self.out.len() - self.head - BATCH_HEADER
    }

    /// Writes the batch's header, every record stamped `timestamp_ms`: the request can be
    /// framed from then on.
    pub(super) fn finish(&mut self, timestamp_ms: i64) {
        let batch = &mut self.out[self.head..];
        let length = (batch.len() - 12) as i32;
        let mut h = [0u8; BATCH_HEADER];
        // base offset (0), then the batch length
        h[8..12].copy_from_slice(&length.to_be_bytes());
        h[12..16].copy_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
        h[16] = 2; // magic; the CRC below; attributes 0: no compression, create time
        h[23..27].copy_from_slice(&(self.count - 1).max(0).to_be_bytes()); // last offset delta
        h[27..35].copy_from_slice(&timestamp_ms.to_be_bytes()); // first timestamp
        h[35..43].copy_from_slice(&timestamp_ms.to_be_bytes()); // max timestamp
        h[43..51].copy_from_slice(&(-1i64).to_be_bytes()); // producer id
        h[51..53].copy_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        h[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // base sequence
        h[57..61].copy_from_slice(&self.count.to_be_bytes());
        batch[..BATCH_HEADER].copy_from_slice(&h);
        let crc = crc32c::crc32c(&batch[CRC_FROM..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }

    /// The buffer, for the next request to reuse.
    pub(super) fn into_buffer(self) -> Vec<u8> {
        self.out
    }

    /// The request's head, up to the batch's length.
    fn write_head(
        topic: &str,
        version: i16,
        correlation_id: i32,
        partition: i32,
        timeout_ms: i32,
        batch_len: usize,
    ) -> Vec<u8> {
        let mut f = Frame::new(PRODUCE, version, correlation_id, topic.len() + 32);
        f.i16(-1); // transactional id: null
        f.i16(-1); // acks: all in-sync replicas
        f.i32(timeout_ms);
        f.i32(1);
        f.bytes16(topic.as_bytes());
        f.i32(1);
        f.i32(partition);
        f.i32(batch_len as i32);
        f.out
    }

    /// The whole frame for one attempt (`topic`: the one the request was made for).
    pub(super) fn frame(
        &mut self,
        version: i16,
        correlation_id: i32,
        topic: &str,
        partition: i32,
        timeout_ms: i32,
    ) -> &[u8] {
        let batch_len = self.out.len() - self.head;
        let mut head = Self::write_head(
            topic,
            version,
            correlation_id,
            partition,
            timeout_ms,
            batch_len,
        );
        debug_assert_eq!(head.len(), self.head, "the topic the request was made for");
        let size = (self.out.len() - 4) as i32;
        head[..4].copy_from_slice(&size.to_be_bytes());
        self.out[..self.head].copy_from_slice(&head);
        &self.out
    }

    /// The record batch.
    #[cfg(test)]
    fn batch(&self) -> &[u8] {
        &self.out[self.head..]
    }

    /// Each record's offset delta and value, read back from the batch (as a broker would).
    #[cfg(test)]
    pub(super) fn records(&self) -> Vec<(i64, Vec<u8>)> {
        fn varint(b: &mut &[u8]) -> i64 {
            let (mut z, mut shift) = (0u64, 0);
            loop {
                let byte = b[0];
                *b = &b[1..];
                z |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return (z >> 1) as i64 ^ -((z & 1) as i64);
                }
                shift += 7;
            }
        }
        let mut b = &self.batch()[BATCH_HEADER..];
        let mut out = Vec::new();
        while !b.is_empty() {
            let len = varint(&mut b) as usize;
            let (mut r, rest) = b.split_at(len);
            b = rest;
            r = &r[1..]; // attributes
            varint(&mut r); // timestamp delta
            let offset = varint(&mut r);
            let key = varint(&mut r);
            r = &r[key.max(0) as usize..];
            let n = varint(&mut r) as usize;
            out.push((offset, r[..n].to_vec()));
            assert_eq!(&r[n..], &[0], "no headers, nothing after");
        }
        out
    }
}

/// The error code of the one partition a Produce response (v3 to v7) answers (0: written).
pub(super) fn produce_response(body: &[u8]) -> Result<i16> {
    let mut r = Reader::new(body);
    if r.array()? >= 1 {
        r.string()?; // topic
        if r.array()? >= 1 {
            r.i32()?; // partition index
            return r.i16();
        }
    }
    Err("the broker's produce response names no partition".into())
}

/// The highest version of `api_key` both the broker (per its ApiVersions answer) and this
/// producer (`ours`) speak.
pub(super) fn negotiate(
    versions: &[(i16, i16, i16)],
    api_key: i16,
    ours: std::ops::RangeInclusive<i16>,
) -> Result<i16> {
    let (_, min, max) = versions
        .iter()
        .find(|(k, _, _)| *k == api_key)
        .ok_or_else(|| format!("the broker does not offer API {api_key}"))?;
    let v = (*max).min(*ours.end());
    if v < *min.max(ours.start()) {
        return Err(format!(
            "the broker speaks versions {min} to {max} of API {api_key}, this producer {} to {}",
            ours.start(),
            ours.end()
        ));
    }
    Ok(v)
}

/// The ApiVersions v0 answer: (api key, min, max) for each API the broker offers.
pub(super) fn api_versions_response(body: &[u8]) -> Result<Vec<(i16, i16, i16)>> {
    let mut r = Reader::new(body);
    let code = r.i16()?;
    if code != 0 {
        return Err(format!("ApiVersions: {}", error_name(code)));
    }
    (0..r.array()?)
        .map(|_| Ok((r.i16()?, r.i16()?, r.i16()?)))
        .collect()
}

/// A Metadata request (v1 to v7) for one topic, not creating it.
pub(super) fn metadata(version: i16, correlation_id: i32, topic: &str) -> Vec<u8> {
    let mut f = Frame::new(METADATA, version, correlation_id, topic.len() + 8);
    f.i32(1);
    f.bytes16(topic.as_bytes());
    if version >= 4 {
        f.i8(0); // allow_auto_topic_creation: false
    }
    f.finish()
}

/// What a Metadata answer says of one topic.
#[derive(Debug, PartialEq)]
pub(super) struct TopicLayout {
    /// Each broker's node id and address.
    pub brokers: Vec<(i32, String)>,
    /// Each partition's index and leader's node id, by index.
    pub partitions: Vec<(i32, i32)>,
}

/// Reads a Metadata response (v1 to v7) for `topic`.
pub(super) fn metadata_response(version: i16, body: &[u8], topic: &str) -> Result<TopicLayout> {
    let mut r = Reader::new(body);
    if version >= 3 {
        r.i32()?; // throttle time
    }
    let mut brokers = Vec::new();
    for _ in 0..r.array()? {
        let id = r.i32()?;
        let host = r.string()?.unwrap_or_default().to_string();
        let port = r.i32()?;
        r.string()?; // rack
        brokers.push((id, join_host_port(&host, port)));
    }
    if version >= 2 {
        r.string()?; // cluster id
    }
    r.i32()?; // controller id
    for _ in 0..r.array()? {
        let code = r.i16()?;
        let name = r.string()?.unwrap_or_default();
        r.i8()?; // is internal
        let mut partitions = Vec::new();
        for _ in 0..r.array()? {
            r.i16()?; // the partition's error code: its leader (-1 when none) tells the same
            let index = r.i32()?;
            let leader = r.i32()?;
            if version >= 7 {
                r.i32()?; // leader epoch
            }
            let lists = if version >= 5 { 3 } else { 2 }; // replicas, in-sync, offline
            for _ in 0..lists {
                let n = r.array()?;
                r.skip(n * 4)?;
            }
            // A partition without a leader is counted; sending to it fails until it has one.
            partitions.push((index, leader));
        }
        if name != topic {
            continue;
        }
        if code != 0 {
            return Err(format!("topic {topic}: {}", error_name(code)));
        }
        partitions.sort_unstable();
        return Ok(TopicLayout {
            brokers,
            partitions,
        });
    }
    Err(format!("topic {topic}: not in the broker's metadata"))
}

fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A SaslHandshake v1 request for `mechanism`.
pub(super) fn sasl_handshake(correlation_id: i32, mechanism: &str) -> Vec<u8> {
    let mut f = Frame::new(SASL_HANDSHAKE, 1, correlation_id, mechanism.len() + 2);
    f.bytes16(mechanism.as_bytes());
    f.finish()
}

/// A SaslHandshake answer: an error when the broker does not take the mechanism.
pub(super) fn sasl_handshake_response(body: &[u8], mechanism: &str) -> Result<()> {
    let mut r = Reader::new(body);
    match r.i16()? {
        0 => Ok(()),
        code => {
            let offered = (0..r.array().unwrap_or(0))
                .filter_map(|_| r.string().ok().flatten())
                .collect::<Vec<_>>()
                .join(", ");
            Err(format!(
                "SASL mechanism {mechanism}: {} (the broker offers: {offered})",
                error_name(code)
            ))
        }
    }
}

/// A SaslAuthenticate request (v0 or v1) carrying `auth_bytes`.
pub(super) fn sasl_authenticate(version: i16, correlation_id: i32, auth_bytes: &[u8]) -> Vec<u8> {
    let mut f = Frame::new(
        SASL_AUTHENTICATE,
        version,
        correlation_id,
        auth_bytes.len() + 4,
    );
    f.bytes32(auth_bytes);
    f.finish()
}

/// A SaslAuthenticate answer: the server's bytes, or its error and message.
pub(super) fn sasl_authenticate_response(body: &[u8]) -> Result<Vec<u8>> {
    let mut r = Reader::new(body);
    let code = r.i16()?;
    let message = r.string()?.unwrap_or_default().to_string();
    if code != 0 {
        return Err(format!("SASL: {} {message}", error_name(code)));
    }
    Ok(r.bytes()?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished request to topic `t` of `values`.
    fn finished(values: &[&[u8]], key: Option<&[u8]>, timestamp_ms: i64) -> ProduceRequest {
        let mut request = ProduceRequest::new("t", Vec::new());
        for v in values {
            request.push(key, v);
        }
        request.finish(timestamp_ms);
        request
    }

    #[test]
    fn varints_are_zigzag_encoded_as_kafka_writes_them() {
        for (v, bytes) in [
            (0i64, &[0x00][..]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (300, &[0xd8, 0x04]),
            (
                i64::MAX,
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
    }

    #[test]
    fn a_record_batch_has_its_length_crc_and_records_in_place() {
        let request = finished(&[b"{\"a\":1}", b"xy"], Some(b"k"), 1_700);
        let batch = request.batch();
        let length = i32::from_be_bytes(batch[8..12].try_into().unwrap());
        assert_eq!(length as usize, batch.len() - 12, "length after the field");
        assert_eq!(batch[16], 2, "magic");
        let crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&batch[CRC_FROM..]));
        assert_eq!(i32::from_be_bytes(batch[23..27].try_into().unwrap()), 1);
        assert_eq!(i32::from_be_bytes(batch[57..61].try_into().unwrap()), 2);
        for at in [27, 35] {
            let t = i64::from_be_bytes(batch[at..at + 8].try_into().unwrap());
            assert_eq!(t, 1_700, "first and max timestamp");
        }
        // First record: length 14 (zigzag 28), attributes, timestamp delta 0, offset delta 0,
        // key length 1 (zigzag 2) "k", value length 7 (zigzag 14), value, no headers.
        let mut first = vec![28, 0, 0, 0, 2, b'k', 14];
        first.extend_from_slice(b"{\"a\":1}");
        first.push(0);
        assert_eq!(&batch[61..61 + first.len()], &first[..]);
        let second = [18, 0, 0, 2, 2, b'k', 4, b'x', b'y', 0]; // length 9, offset delta 1
        assert_eq!(&batch[61 + first.len()..], &second[..]);
    }

    #[test]
    fn a_produce_frame_is_its_head_then_the_batch_and_each_attempt_writes_its_own_head() {
        let mut request = finished(&[b"v"], None, 0);
        let batch = request.batch().to_vec();
        for (version, id, partition) in [(7, 1, 0), (3, 2, 5)] {
            let f = request.frame(version, id, "t", partition, 2000).to_vec();
            assert_eq!(
                i32::from_be_bytes(f[..4].try_into().unwrap()) as usize,
                f.len() - 4,
                "size prefix"
            );
            let mut head = vec![0, 0]; // Produce
            head.extend_from_slice(&version.to_be_bytes());
            head.extend_from_slice(&id.to_be_bytes());
            head.extend_from_slice(b"\0\x05apigw");
            head.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // no transactional id, acks all
            head.extend_from_slice(&2000i32.to_be_bytes());
            head.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1]);
            head.extend_from_slice(&partition.to_be_bytes());
            head.extend_from_slice(&(batch.len() as i32).to_be_bytes());
            assert_eq!(&f[4..4 + head.len()], &head[..], "attempt {id}");
            assert_eq!(
                &f[4 + head.len()..],
                &batch[..],
                "then the batch, unchanged"
            );
        }
    }

    #[test]
    fn a_batch_without_key_writes_a_null_key() {
        let request = finished(&[b"v"], None, 0);
        let batch = request.batch();
        assert_eq!(&batch[61..], &[14, 0, 0, 0, 1, 2, b'v', 0]);
    }

    #[test]
    fn crc32c_is_the_castagnoli_checksum() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn a_frame_carries_its_size_and_header() {
        let f = metadata(4, 7, "t");
        assert_eq!(
            i32::from_be_bytes(f[..4].try_into().unwrap()) as usize,
            f.len() - 4
        );
        assert_eq!(&f[4..12], &[0, 3, 0, 4, 0, 0, 0, 7]);
        assert_eq!(&f[12..19], b"\0\x05apigw");
        assert_eq!(&f[19..], &[0, 0, 0, 1, 0, 1, b't', 0]);
    }

    #[test]
    fn truncated_or_oversized_answers_are_errors_not_panics() {
        assert!(api_versions_response(&[0]).is_err());
        assert!(api_versions_response(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_err());
        assert!(produce_response(&[0, 0, 0, 1, 0, 1]).is_err());
        assert!(metadata_response(7, &[], "t").is_err());
        assert!(sasl_authenticate_response(&[0, 0, 0xff, 0xff, 0, 0, 0, 9]).is_err());
    }

    #[test]
    fn metadata_names_each_partition_leader_and_broker_address() {
        let mut f = Frame { out: Vec::new() };
        f.i32(0); // throttle
        f.i32(2);
        for (id, host, port) in [(1, "b1", 9092), (2, "::1", 9093)] {
            f.i32(id);
            f.bytes16(host.as_bytes());
            f.i32(port);
            f.i16(-1);
        }
        f.i16(-1); // cluster id
        f.i32(1); // controller
        f.i32(2);
        for (name, parts) in [("other", vec![]), ("t", vec![(1, 2), (0, 1)])] {
            f.i16(0);
            f.bytes16(name.as_bytes());
            f.i8(0);
            f.i32(parts.len() as i32);
            for (index, leader) in parts {
                f.i16(0);
                f.i32(index);
                f.i32(leader);
                f.i32(0); // leader epoch
                for _ in 0..3 {
                    f.i32(1);
                    f.i32(leader);
                }
            }
        }
        let layout = metadata_response(7, &f.out, "t").unwrap();
        assert_eq!(
            layout,
            TopicLayout {
                brokers: vec![(1, "b1:9092".into()), (2, "[::1]:9093".into())],
                partitions: vec![(0, 1), (1, 2)],
            }
        );
        assert!(metadata_response(7, &f.out, "missing").is_err());
    }

    #[test]
    fn versions_are_the_highest_both_sides_speak() {
        let offered = [(0, 0, 9), (3, 0, 12), (17, 0, 1)];
        assert_eq!(negotiate(&offered, PRODUCE, 3..=7), Ok(7));
        assert_eq!(negotiate(&offered, SASL_HANDSHAKE, 1..=1), Ok(1));
        assert!(negotiate(&[(0, 0, 2)], PRODUCE, 3..=7).is_err());
        assert!(negotiate(&[(0, 8, 12)], PRODUCE, 3..=7).is_err());
        assert!(negotiate(&offered, SASL_AUTHENTICATE, 0..=1).is_err());
    }
}
