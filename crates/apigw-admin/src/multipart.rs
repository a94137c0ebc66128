//! `multipart/form-data` bodies (RFC 7578) read from memory: the control plane already holds
//! the whole body (its signature covers it), so the parts are slices of it, found by the
//! boundary. Used by the import call, whose file comes as a form part.

/// One part: its form field name, the file name it was sent with (if any) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part<'b> {
    pub(crate) name: String,
    pub(crate) filename: Option<String>,
    pub(crate) data: &'b [u8],
}

/// The boundary of a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The parts of `body`, or why it is not a well-formed form.
pub(crate) fn parse<'b>(body: &'b [u8], boundary: &str) -> Result<Vec<Part<'b>>, String> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut at = find(body, delim, 0).ok_or("the body has no part (boundary not found)")?;
    let mut parts = Vec::new();
    loop {
        at += delim.len();
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err("a boundary line must end with CRLF".into());
        }
        at += 2;
        let head_end = find(body, b"\r\n\r\n", at).ok_or("a part has no end of headers")?;
        let head = std::str::from_utf8(&body[at..head_end])
            .map_err(|_| "a part's headers are not UTF-8")?;
        let (name, filename) = disposition(head)?;
        let data_start = head_end + 4;
        let mut next_delim = Vec::with_capacity(delim.len() + 2);
        next_delim.extend_from_slice(b"\r\n");
        next_delim.extend_from_slice(delim);
        let end =
            find(body, &next_delim, data_start).ok_or("a part is not closed by the boundary")?;
        parts.push(Part {
            name,
            filename,
            data: &body[data_start..end],
        });
        at = end + 2;
    }
}

/// `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(head: &str) -> Result<(String, Option<String>), String> {
    let line = head
        .split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(v)
        })
        .ok_or("a part has no Content-Disposition")?;
    let mut name = None;
    let mut filename = None;
    for p in line.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Ok((name.ok_or("a part has no name")?, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_is_read_from_the_content_type_quoted_or_not() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn fields_and_files_are_split_at_the_boundary() {
        let body = b"--xy\r\nContent-Disposition: form-data; name=\"is_create_group\"\r\n\r\nfalse\r\n--xy\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"a.yaml\"\r\nContent-Type: application/x-yaml\r\n\r\nswagger: '2.0'\r\n--xy--\r\n";
        let parts = parse(body, "xy").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "is_create_group");
        assert_eq!(parts[0].data, b"false");
        assert_eq!(parts[1].filename.as_deref(), Some("a.yaml"));
        assert_eq!(parts[1].data, b"swagger: '2.0'");
    }

    #[test]
    fn truncated_or_garbled_forms_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"--xy",
            b"--xy\r\n",
            b"--xy\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            b"--xy\r\nX: y\r\n\r\ndata\r\n--xy--",
            b"--xyjunk",
        ] {
            assert!(
                parse(body, "xy").is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
