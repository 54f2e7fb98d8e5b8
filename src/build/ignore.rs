//! `.containerignore` / `.dockerignore` patterns, with Docker's rules (moby's patternmatcher):
//!
//! - one pattern a line, trimmed; a line starting with `#` is a comment, blank lines are skipped;
//! - `!` makes an exception (re-includes what an earlier line excluded);
//! - the pattern is cleaned like Go's `filepath.Clean` (`./`, `//`, `..`, a trailing `/`) and a
//!   leading `/` is dropped: `/foo`, `./foo` and `foo/` all mean `foo`;
//! - a pattern matches a path when it matches the path itself or one of its parent directories
//!   (`node_modules` excludes everything below it); the last matching line decides;
//! - the glob is Go's `filepath.Match` plus `**`: `*` and `?` stop at `/`, `[...]` is a class
//!   (negated by `^`), `\` escapes the next character, `**/` matches any number of directories
//!   (none included), and `**` elsewhere matches anything.
//!
//! COPY `--exclude` uses the same matcher.

/// Why an ignore file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("illegal exclusion pattern: {0:?}")]
    BareBang(String),
    #[error("syntax error in pattern {0:?}")]
    Syntax(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`: one character but `/`.
    Any,
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` not followed by `/`: anything.
    Anything,
    /// `**/`: nothing, or anything ending in `/`.
    Dirs,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

/// One cleaned pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned text, for messages and the cache key.
    pub text: String,
    pub exception: bool,
    tokens: Vec<Token>,
}

/// An ordered list of patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses an ignore file's text.
    pub fn parse(text: &str) -> Result<Ignore, PatternError> {
        Ignore::from_patterns(text.lines().filter(|l| !l.trim_start().starts_with('#')))
    }

    /// The patterns of `--exclude` options (and of the lines of an ignore file): blank ones
    /// are skipped.
    pub fn from_patterns<'a>(
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Ignore, PatternError> {
        let mut patterns = Vec::new();
        for line in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, raw) = match line.strip_prefix('!') {
                Some(rest) => {
                    let rest = rest.trim();
                    if rest.is_empty() {
                        return Err(PatternError::BareBang(line.to_string()));
                    }
                    (true, rest)
                }
                None => (false, line),
            };
            let text = clean(raw);
            let text = text.strip_prefix('/').unwrap_or(&text).to_string();
            if text.is_empty() || text == "." {
                continue;
            }
            let tokens = compile(&text).ok_or_else(|| PatternError::Syntax(raw.to_string()))?;
            patterns.push(Pattern {
                text,
                exception,
                tokens,
            });
        }
        Ok(Ignore { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether some pattern is an exception: then an excluded directory may still have
    /// included contents and must be walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `path` (relative to the context root, `/`-separated, no leading `/`) is
    /// excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            if p.exception != excluded {
                // Cannot change the answer.
                continue;
            }
            if matches_or_parent(&p.tokens, path) {
                excluded = !p.exception;
            }
        }
        excluded
    }
}

/// Whether the glob `pattern` (one path component or more, same syntax) matches all of
/// `name`; a malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    compile(pattern).is_some_and(|t| glob(&t, &chars))
}

fn matches_or_parent(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    if glob(tokens, &chars) {
        return true;
    }
    chars
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == '/')
        .any(|(i, _)| glob(tokens, &chars[..i]))
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|c| *c != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The tokens of a cleaned pattern, `None` for a malformed class or a trailing `\`.
fn compile(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                    tokens.push(Token::Dirs);
                } else {
                    tokens.push(Token::Anything);
                }
                continue;
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Any),
            '\\' => {
                i += 1;
                tokens.push(Token::Char(*chars.get(i)?));
            }
            '[' => {
                i += 1;
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    let mut c = *chars.get(i)?;
                    if c == ']' && !ranges.is_empty() {
                        break;
                    }
                    if c == '\\' {
                        i += 1;
                        c = *chars.get(i)?;
                    }
                    let mut hi = c;
                    if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|c| *c != ']')
                    {
                        i += 2;
                        hi = chars[i];
                        if hi == '\\' {
                            i += 1;
                            hi = *chars.get(i)?;
                        }
                        if hi < c {
                            return None;
                        }
                    }
                    ranges.push((c, hi));
                    i += 1;
                }
                tokens.push(Token::Class(negated, ranges));
            }
            c => tokens.push(Token::Char(c)),
        }
        i += 1;
    }
    Some(tokens)
}

/// Whether `tokens` match all of `s`.
fn glob(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Char(c) => s.first() == Some(c) && glob(rest, &s[1..]),
        Token::Any => s.first().is_some_and(|c| *c != '/') && glob(rest, &s[1..]),
        Token::Class(negated, ranges) => {
            s.first().is_some_and(|c| {
                *c != '/' && (ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)
            }) && glob(rest, &s[1..])
        }
        Token::Star => {
            for n in 0..=s.len() {
                if glob(rest, &s[n..]) {
                    return true;
                }
                if n < s.len() && s[n] == '/' {
                    break;
                }
            }
            false
        }
        Token::Anything => (0..=s.len()).any(|n| glob(rest, &s[n..])),
        Token::Dirs => {
            glob(rest, s)
                || s.iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '/')
                    .any(|(i, _)| glob(rest, &s[i + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(file: &str, path: &str) -> bool {
        Ignore::parse(file).unwrap().excludes(path)
    }

    #[test]
    fn pattern_table() {
        // (ignore file, path, excluded)
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "foo/bar", true),
            ("foo", "foo/bar/baz", true),
            ("foo", "a/foo", false),
            ("foo", "foobar", false),
            ("/foo", "foo", true),
            ("./foo", "foo/x", true),
            ("foo/", "foo/x", true),
            ("foo//bar", "foo/bar", true),
            ("foo/../bar", "bar", true),
            ("*.md", "README.md", true),
            ("*.md", "docs/README.md", false),
            ("*/temp*", "somedir/temporary.txt", true),
            ("*/temp*", "somedir/temp", true),
            ("*/temp*", "temp", false),
            ("*/*/temp*", "a/b/temp.txt", true),
            ("temp?", "tempa", true),
            ("temp?", "temp", false),
            ("temp?", "tempab", false),
            ("**/*.go", "main.go", true),
            ("**/*.go", "a/b/c.go", true),
            ("**/*.go", "a/b/c.golang", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "ab", false),
            ("a/**", "a/x/y", true),
            ("**", "anything/at/all", true),
            ("a**b", "a/x/b", true),
            ("[abc].txt", "b.txt", true),
            ("[abc].txt", "d.txt", false),
            ("[^abc].txt", "d.txt", true),
            ("[^abc].txt", "a.txt", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[!]x", "!x", true),
            ("\\*x", "*x", true),
            ("\\*x", "ax", false),
            ("*", "anything", true),
            ("*", "dir/file", true), // the parent matches
            ("# comment", "# comment", false),
            ("  spaced  ", "spaced", true),
            ("*.md\n!README.md", "README.md", false),
            ("*.md\n!README.md", "other.md", true),
            (
                "*.md\n!README*.md\nREADME-secret.md",
                "README-secret.md",
                true,
            ),
            ("*.md\n!README*.md\nREADME-secret.md", "README-x.md", false),
            (
                "*.md\nREADME-secret.md\n!README*.md",
                "README-secret.md",
                false,
            ),
            ("*\n!keep", "keep", false),
            ("*\n!keep", "keep/inner", false),
            ("*\n!keep", "other", true),
            ("dir\n!dir/keep", "dir/keep", false),
            ("dir\n!dir/keep", "dir/other", true),
            ("dir\n!dir/keep", "dir", true),
            ("!x", "x", false),
        ];
        for &(file, path, want) in cases {
            assert_eq!(excluded(file, path), want, "{file:?} vs {path:?}");
        }
    }

    #[test]
    fn bad_patterns() {
        assert!(matches!(Ignore::parse("!"), Err(PatternError::BareBang(_))));
        assert!(matches!(
            Ignore::parse("[abc"),
            Err(PatternError::Syntax(_))
        ));
        assert!(matches!(
            Ignore::parse("[z-a]"),
            Err(PatternError::Syntax(_))
        ));
        assert!(matches!(Ignore::parse("x\\"), Err(PatternError::Syntax(_))));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("/a/../../b"), "/b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(clean(""), ".");
        let ig = Ignore::parse(".\n/\n").unwrap();
        // "." cleans to "." and matches only a file named "."; "/" is dropped.
        assert!(!ig.excludes("x"));
    }

    #[test]
    fn exceptions_are_known() {
        assert!(!Ignore::parse("a\nb").unwrap().has_exceptions());
        assert!(Ignore::parse("a\n!b").unwrap().has_exceptions());
    }
}
