//! Go's `path.Match`, as libimage's reference filter uses it, ported step by step: the pattern
//! is cut into chunks at each `*`, and each starred chunk takes the first place it matches
//! (Go's own strategy). That keeps the cost at pattern × name; trying every split for every
//! `*` instead was exponential (`*a*a*a*…b` against a long name hung `images --filter`,
//! found by fuzz/ reference).

/// `Some(matched)`, or `None` for a malformed pattern (Go's `ErrBadPattern`).
pub(super) fn matches(pattern: &[char], name: &[char]) -> Option<bool> {
    let (mut pattern, mut name) = (pattern, name);
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it has a `/`.
            return Some(!name.contains(&'/'));
        }
        let tail_ok = |t: &[char], pattern: &[char]| t.is_empty() || !pattern.is_empty();
        if let Some(t) = match_chunk(chunk, name)?
            && tail_ok(t, pattern)
        {
            name = t;
            continue;
        }
        if star {
            // Skip i + 1 characters; a `*` cannot skip a `/`.
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])?
                    && tail_ok(t, pattern)
                {
                    name = t;
                    continue 'chunks;
                }
                i += 1;
            }
        }
        // No match; the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, &[])?;
        }
        return Some(false);
    }
    Some(name.is_empty())
}

/// Leading stars, then the chunk up to the next `*` outside a class.
fn scan_chunk(pattern: &[char]) -> (bool, &[char], &[char]) {
    let stars = pattern.iter().take_while(|&&c| c == '*').count();
    let pattern = &pattern[stars..];
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' if i + 1 < pattern.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (stars > 0, &pattern[..i], &pattern[i..])
}

/// Matches `chunk` (no `*`) at the start of `s`: `Some(Some(rest of s))`, `Some(None)` when it
/// does not match, `None` when the chunk is malformed (checked to its end even after a
/// mismatch, as Go does).
fn match_chunk<'s>(mut chunk: &[char], mut s: &'s [char]) -> Option<Option<&'s [char]>> {
    let mut failed = false;
    while let Some((&c, rest)) = chunk.split_first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            '[' => {
                let r = if failed {
                    None
                } else {
                    let r = s[0];
                    s = &s[1..];
                    Some(r)
                };
                chunk = rest;
                let negated = chunk.first() == Some(&'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
                        let (h, rest) = class_char(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if r.is_some_and(|r| lo <= r && r <= hi) {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = rest;
            }
            _ => {
                let (c, rest) = if c == '\\' {
                    let (&e, rest) = rest.split_first()?;
                    (e, rest)
                } else {
                    (c, rest)
                };
                if !failed {
                    if s[0] != c {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = rest;
            }
        }
    }
    Some((!failed).then_some(s))
}

/// One character of a class, escaped or not; `None` where Go reports a bad pattern (an
/// unescaped `-` or `]`, or the pattern ending inside the class).
fn class_char(p: &[char]) -> Option<(char, &[char])> {
    let (c, rest) = match p.split_first()? {
        ('-' | ']', _) => return None,
        ('\\', rest) => rest.split_first().map(|(&c, r)| (c, r))?,
        (&c, rest) => (c, rest),
    };
    (!rest.is_empty()).then_some((c, rest))
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(pattern: &str, name: &str) -> Option<bool> {
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        matches(&p, &n)
    }

    /// Go's own `path.Match` table (src/path/match_test.go).
    #[test]
    fn go_match_table() {
        let bad = None;
        for (pattern, name, want) in [
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(false)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a[^a]b", "a☺b", Some(true)),
            ("a???b", "a☺b", Some(false)),
            ("a[^a][^a][^a]b", "a☺b", Some(false)),
            ("[a-ζ]*", "α", Some(true)),
            ("*[a-ζ]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", bad),
            ("[-]", "-", bad),
            ("[x-]", "x", bad),
            ("[x-]", "-", bad),
            ("[x-]", "z", bad),
            ("[-x]", "x", bad),
            ("[-x]", "-", bad),
            ("[-x]", "a", bad),
            ("\\", "a", bad),
            ("[a-b-c]", "a", bad),
            ("[", "a", bad),
            ("[^", "a", bad),
            ("[^bc", "a", bad),
            ("a[", "a", bad),
            ("a[", "ab", bad),
            ("a[", "x", bad),
            ("a/b[", "x", bad),
            ("*x", "xxx", Some(true)),
        ] {
            assert_eq!(m(pattern, name), want, "{pattern:?} against {name:?}");
        }
    }

    /// Found by fuzz/ (reference): many stars against a long name that does not match took
    /// exponential time.
    #[test]
    fn many_stars_take_linear_time() {
        let pattern = "*a".repeat(40) + "b";
        let name = "a".repeat(200);
        let start = std::time::Instant::now();
        assert_eq!(m(&pattern, &name), Some(false));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
