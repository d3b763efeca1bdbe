//! File names from `X-Filename` and how they go back out in `Content-Disposition`.

/// Longest stored file name, bytes.
const MAX_NAME_BYTES: usize = 255;

/// The file name an `X-Filename` header gives: percent-decoded as UTF-8 (a browser can
/// only send non-ASCII names that way), path parts and control characters dropped, cut
/// to 255 bytes; `None` if nothing is left.
pub fn from_header(raw: &[u8]) -> Option<String> {
    let decoded = percent_decode(raw);
    let text = String::from_utf8_lossy(&decoded);
    let base = text.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name = String::new();
    for c in base.chars().filter(|c| !c.is_control()) {
        if name.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        name.push(c);
    }
    let name = name.trim().to_string();
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match (
            raw[i],
            raw.get(i + 1).and_then(|&b| hex(b)),
            raw.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A `Content-Disposition` value: `inline` or `attachment`, with the name in both the
/// plain (ASCII, quotes and backslashes replaced) and the RFC 5987 UTF-8 form.
pub fn disposition(kind: &str, name: Option<&str>) -> String {
    let Some(name) = name else {
        return kind.to_string();
    };
    let ascii: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '_',
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(from_header(b"report.pdf").as_deref(), Some("report.pdf"));
        assert_eq!(from_header(b"../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(from_header(b"C:\\x\\a b.txt").as_deref(), Some("a b.txt"));
        assert_eq!(
            from_header("%E6%96%87.txt".as_bytes()).as_deref(),
            Some("文.txt")
        );
        assert_eq!(from_header(b"a\x01b").as_deref(), Some("ab"));
        assert_eq!(from_header(b"dir/"), None);
        assert_eq!(from_header(b".."), None);
        assert!(from_header(&[b'x'; 1000]).is_some_and(|n| n.len() == 255));
        assert_eq!(
            disposition("attachment", Some("a\"b 文.txt")),
            "attachment; filename=\"a_b _.txt\"; filename*=UTF-8''a%22b%20%E6%96%87.txt"
        );
    }
}
