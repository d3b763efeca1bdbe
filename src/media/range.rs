//! The `Range` header of a GET /media request (RFC 9110 byte ranges, one range).

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The whole file (no header, or one the node does not serve partially, e.g. many ranges).
    Whole,
    /// Bytes `start..start + len`.
    Part {
        /// First byte.
        start: u64,
        /// How many.
        len: u64,
    },
    /// Nothing of the file can be given (416).
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes
        (true, false) => match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => {
                let len = n.min(size);
                Wanted::Part {
                    start: size - len,
                    len,
                }
            }
            None => Wanted::Whole,
        },
        // bytes=A- and bytes=A-B
        (false, _) => {
            let Some(start) = number(first) else {
                return Wanted::Whole;
            };
            let end = match last.is_empty() {
                true => size.saturating_sub(1),
                false => match number(last) {
                    Some(b) if b >= start => b.min(size.saturating_sub(1)),
                    _ => return Wanted::Whole,
                },
            };
            if start >= size {
                return Wanted::Unsatisfiable;
            }
            Wanted::Part {
                start,
                len: end - start + 1,
            }
        }
        (true, true) => Wanted::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let part = |start, len| Wanted::Part { start, len };
        assert_eq!(parse(None, 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=0-3"), 10), part(0, 4));
        assert_eq!(parse(Some("bytes=5-"), 10), part(5, 5));
        assert_eq!(parse(Some("bytes=-3"), 10), part(7, 3));
        assert_eq!(parse(Some("bytes=-30"), 10), part(0, 10));
        assert_eq!(parse(Some("bytes=8-100"), 10), part(8, 2));
        assert_eq!(parse(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=10-20"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-1,3-4"), 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=4-2"), 10), Wanted::Whole);
        assert_eq!(parse(Some("items=0-1"), 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=x-"), 10), Wanted::Whole);
    }
}
