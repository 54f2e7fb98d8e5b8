//! An instruction's arguments as words, raw (quotes and escapes kept), each with where it
//! starts; the leading `--name[=value]` flags; the JSON (exec) form.

/// A word of a logical line and its byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: &'a str,
    pub start: usize,
}

/// Splits `text` (found at byte `base` of its logical line) on white space outside quotes;
/// the escape character protects the next character. An unterminated quote runs to the end:
/// expansion reports it, with the value in hand.
pub fn split(text: &str, base: usize, escape: char) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quote = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() && quote.is_none() {
            if let Some(s) = start.take() {
                out.push(Word {
                    text: &text[s..i],
                    start: base + s,
                });
            }
            continue;
        }
        start.get_or_insert(i);
        match (c, quote) {
            (c, q) if c == escape && q != Some('\'') => {
                chars.next();
            }
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            text: &text[s..],
            start: base + s,
        });
    }
    out
}

/// A `--name[=value]` before an instruction's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagWord<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
    pub start: usize,
}

/// The leading flags of `args` (at byte `base`), and the offset in `args` where the rest
/// starts. A lone `--` ends the flags and is dropped.
pub fn flags(args: &str, base: usize, escape: char) -> (Vec<FlagWord<'_>>, usize) {
    let mut out = Vec::new();
    for word in split(args, base, escape) {
        let Some(flag) = word.text.strip_prefix("--") else {
            return (out, word.start - base);
        };
        if flag.is_empty() {
            return (out, word.start - base + word.text.len());
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        out.push(FlagWord {
            name,
            value,
            start: word.start,
        });
    }
    (out, args.len())
}

/// The exec form: `Some` when `text` is a JSON array of strings. Anything else, even text
/// that starts with `[`, is the shell form, as Docker has it.
pub fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<(&str, usize)> {
        split(text, 10, '\\')
            .into_iter()
            .map(|w| (w.text, w.start))
            .collect()
    }

    #[test]
    fn splits_outside_quotes() {
        assert_eq!(
            texts(" a=\"b c\"  'd e'\\ f g\\"),
            [("a=\"b c\"", 11), ("'d e'\\ f", 20), ("g\\", 29)]
        );
        assert_eq!(texts("'a\\' b"), [("'a\\'", 10), ("b", 15)]);
        assert_eq!(texts("\"open end"), [("\"open end", 10)]);
        assert!(texts("   ").is_empty());
    }

    #[test]
    fn leading_flags() {
        let (f, rest) = flags(
            "--mount=type=cache,target=/x --link -- --not-a-flag x",
            0,
            '\\',
        );
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].name, f[0].value),
            ("mount", Some("type=cache,target=/x"))
        );
        assert_eq!((f[1].name, f[1].value, f[1].start), ("link", None, 29));
        assert_eq!(rest, 38);
        let (f, rest) = flags("--a=1", 5, '\\');
        assert_eq!((f.len(), rest), (1, 5));
        let (f, rest) = flags("echo --x", 0, '\\');
        assert_eq!((f.len(), rest), (0, 0));
    }

    #[test]
    fn exec_form_or_not() {
        assert_eq!(json_array("[\"a\", \"b c\"]").unwrap(), ["a", "b c"]);
        assert_eq!(json_array("[]").unwrap(), Vec::<String>::new());
        assert_eq!(json_array("[\"a\", 1]"), None);
        assert_eq!(json_array("[\"a\""), None);
        assert_eq!(json_array("echo [\"a\"]"), None);
    }
}
