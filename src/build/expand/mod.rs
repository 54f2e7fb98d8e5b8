//! Variable expansion and quote removal in Containerfile words, as BuildKit's shell lexer does
//! it (not a shell: no commands, no globbing):
//!
//! - `$V`, `${V}`; an unset variable is empty;
//! - `${V:-w}` / `${V-w}`: `w` when V is unset or empty / unset;
//! - `${V:+w}` / `${V+w}`: `w` when V is set and not empty / set;
//! - `${V:?msg}` / `${V?msg}`: an error when V is unset or empty / unset;
//! - `${V#p}`, `${V##p}`, `${V%p}`, `${V%%p}`: V without the shortest/longest prefix/suffix
//!   that matches the pattern `p`; `${V/p/r}`, `${V//p/r}`: the first/every match replaced;
//! - `w`, `p` and `r` are words themselves: `${A:-${B:-x}}` nests;
//! - single quotes keep everything literal; double quotes group and still expand; the escape
//!   character (`\`, or `` ` `` after `# escape=`) makes the next character literal (inside
//!   double quotes only before `"`, `$` and itself).
//!
//! [`words`] also splits the result into words, as EXPOSE, VOLUME and ARG need: on white
//! space that is neither quoted nor escaped, including white space a variable's value brings.

mod pattern;

use pattern::Pattern;

/// Why a word cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unterminated quote in {0:?}")]
    UnterminatedQuote(String),
    #[error("unterminated ${{...}} in {0:?}")]
    UnterminatedBrace(String),
    #[error("unsupported expansion ${{{0}}}")]
    Unsupported(String),
    /// `${V:?message}` with V unset (or empty).
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    /// `${}`, `${:x}`, `${{x}}`.
    #[error("bad substitution in {0:?}")]
    BadSubstitution(String),
    #[error("expansions nested too deeply in {0:?}")]
    TooDeep(String),
}

/// A variable's value by name: `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How deep `${A:-${B:-...}}` may nest: enough for any real file, and a bound on the
/// recursion for any input.
const MAX_DEPTH: usize = 64;

/// Expands the variables `lookup` knows in `raw` and removes its quotes and escapes, with
/// `\` as the escape character.
pub fn word(raw: &str, lookup: Lookup<'_>) -> Result<String, ExpandError> {
    word_with_escape(raw, '\\', lookup)
}

/// [`word`] with the file's escape character (`Containerfile::escape`).
pub fn word_with_escape(
    raw: &str,
    escape: char,
    lookup: Lookup<'_>,
) -> Result<String, ExpandError> {
    Ok(Expander::new(raw, escape, lookup, true).run()?.0)
}

/// Expands `raw` and splits it into words (EXPOSE, VOLUME, ARG, shell-form lists): on
/// unquoted, unescaped white space, also inside a variable's value.
pub fn words(raw: &str, escape: char, lookup: Lookup<'_>) -> Result<Vec<String>, ExpandError> {
    Ok(Expander::new(raw, escape, lookup, true).run()?.1)
}

/// Expands the variables in a here-document's content (a `COPY <<EOF` file whose marker is not
/// quoted): quotes stay as they are, the escape character only protects a `$` or itself.
pub fn text(raw: &str, escape: char, lookup: Lookup<'_>) -> Result<String, ExpandError> {
    Ok(Expander::new(raw, escape, lookup, false).run()?.0)
}

/// The words being built: characters from quotes and escapes never split a word, characters
/// from a variable's value do on white space.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            // As BuildKit: an empty word (`""`) is no word.
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.push_raw(c);
        }
    }

    fn push_raw(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }

    fn push_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Expander<'a> {
    raw: &'a str,
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: Lookup<'a>,
    /// Whether quotes are syntax (words) or text (here-documents).
    quotes: bool,
    depth: usize,
}

impl<'a> Expander<'a> {
    fn new(raw: &'a str, escape: char, lookup: Lookup<'a>, quotes: bool) -> Expander<'a> {
        Expander {
            raw,
            chars: raw.chars().collect(),
            pos: 0,
            escape,
            lookup,
            quotes,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn run(mut self) -> Result<(String, Vec<String>), ExpandError> {
        self.until(None, false)
    }

    /// Reads up to `stop` (consumed) or the end; `raw_escapes` keeps escape characters in
    /// the result (patterns need them to tell `\*` from `*`).
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.push_str(&value);
                }
                '\'' | '"' if self.quotes => {
                    let value = if c == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted()?
                    };
                    result.push_str(&value);
                    words.push_raw_str(&value);
                }
                c if c == self.escape => {
                    self.pos += 1;
                    let keep = raw_escapes
                        || (!self.quotes
                            && !matches!(self.peek(), Some('$'))
                            && self.peek() != Some(self.escape));
                    if keep {
                        result.push(c);
                        words.push_raw(c);
                    }
                    // An escape at the very end is dropped.
                    if let Some(next) = self.next() {
                        result.push(next);
                        words.push_raw(next);
                    }
                }
                c => {
                    self.pos += 1;
                    result.push(c);
                    words.push(c);
                }
            }
        }
        match stop {
            Some(_) => Err(ExpandError::UnterminatedBrace(self.raw.to_string())),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedQuote(self.raw.to_string())),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedQuote(self.raw.to_string())),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `$NAME` or `${...}`, at the `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok((self.lookup)(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::UnterminatedBrace(self.raw.to_string())),
            Some('{' | '}' | ':') => {
                return Err(ExpandError::BadSubstitution(self.raw.to_string()));
            }
            Some(_) => {}
        }
        if self.depth >= MAX_DEPTH {
            return Err(ExpandError::TooDeep(self.raw.to_string()));
        }
        self.depth += 1;
        let value = self.braced();
        self.depth -= 1;
        value
    }

    /// The inside of `${...}`, after the `{`.
    fn braced(&mut self) -> Result<String, ExpandError> {
        let name = self.name();
        let value = (self.lookup)(&name);
        let Some(op) = self.next() else {
            return Err(ExpandError::UnterminatedBrace(self.raw.to_string()));
        };
        let (op, null_is_unset) = if op == ':' {
            (self.next(), true)
        } else {
            (Some(op), false)
        };
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        let unsupported = |op: Option<char>| {
            ExpandError::Unsupported(format!(
                "{name}{}{}",
                if null_is_unset { ":" } else { "" },
                op.map(String::from).unwrap_or_default()
            ))
        };
        match op {
            Some('}') if !null_is_unset => Ok(value.unwrap_or_default()),
            Some('-') => {
                let word = self.until(Some('}'), false)?.0;
                Ok(if unset {
                    word
                } else {
                    value.unwrap_or_default()
                })
            }
            Some('+') => {
                let word = self.until(Some('}'), false)?.0;
                Ok(if unset { String::new() } else { word })
            }
            Some('?') => {
                let word = self.until(Some('}'), false)?.0;
                if !unset {
                    return Ok(value.unwrap_or_default());
                }
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                Err(ExpandError::Required { name, message })
            }
            Some(c @ ('#' | '%')) if !null_is_unset => {
                let longest = self.peek() == Some(c);
                self.pos += usize::from(longest);
                let pattern = Pattern::new(&self.until(Some('}'), true)?.0, self.escape);
                let value = value.unwrap_or_default();
                Ok(if c == '#' {
                    pattern.trim_prefix(&value, longest)
                } else {
                    pattern.trim_suffix(&value, longest)
                })
            }
            Some('/') if !null_is_unset => {
                let all = self.peek() == Some('/');
                self.pos += usize::from(all);
                let pattern = self.until(Some('/'), true)?.0;
                let replacement = self.until(Some('}'), true)?.0;
                Ok(Pattern::new(&pattern, self.escape).replace(
                    &value.unwrap_or_default(),
                    &replacement,
                    all,
                ))
            }
            None => Err(ExpandError::UnterminatedBrace(self.raw.to_string())),
            other => Err(unsupported(other)),
        }
    }

    /// A variable name: letters, digits and `_`; or digits only (a positional parameter);
    /// or one special parameter character (`$@`, `$*`, ...). Both are never set here.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                name.push(c);
                return name;
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("x".into()),
            "E" => Some(String::new()),
            "P" => Some("/usr/local/bin".into()),
            "S" => Some("a b  c".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_unquotes() {
        assert_eq!(word("$A/${A}", &vars).unwrap(), "x/x");
        assert_eq!(word("${B:-d} ${A:-d} ${E:-d}", &vars).unwrap(), "d x d");
        assert_eq!(word("${A:+y}${B:+y}", &vars).unwrap(), "y");
        assert_eq!(word("'$A' \"$A b\" \\$A", &vars).unwrap(), "$A x b $A");
        assert!(word("\"open", &vars).is_err());
    }

    #[test]
    fn unset_versus_empty() {
        assert_eq!(word("[${E-d}] [${B-d}]", &vars).unwrap(), "[] [d]");
        assert_eq!(
            word("[${E+y}] [${B+y}] [${E:+y}]", &vars).unwrap(),
            "[y] [] []"
        );
        assert_eq!(word("$E$B${B}", &vars).unwrap(), "");
    }

    #[test]
    fn required_variables() {
        assert_eq!(
            word("${B:?give B}", &vars).unwrap_err(),
            ExpandError::Required {
                name: "B".into(),
                message: "give B".into()
            }
        );
        assert_eq!(
            word("${E:?}", &vars).unwrap_err().to_string(),
            "E: is not allowed to be empty"
        );
        assert_eq!(
            word("${B?}", &vars).unwrap_err().to_string(),
            "B: is not allowed to be unset"
        );
        assert_eq!(word("${E?}", &vars).unwrap(), "");
        assert_eq!(word("${A:?no}", &vars).unwrap(), "x");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(word("${B:-${A}}", &vars).unwrap(), "x");
        assert_eq!(word("${B:-${C:-${A:+deep}}}", &vars).unwrap(), "deep");
        assert_eq!(word("${B:-\"q }\"}", &vars).unwrap(), "q }");
        assert_eq!(word("${A:+'$B'}", &vars).unwrap(), "$B");
    }

    #[test]
    fn patterns() {
        assert_eq!(word("${P#*/}", &vars).unwrap(), "usr/local/bin");
        assert_eq!(word("${P##*/}", &vars).unwrap(), "bin");
        assert_eq!(word("${P%/*}", &vars).unwrap(), "/usr/local");
        assert_eq!(word("${P%%/l*}", &vars).unwrap(), "/usr");
        assert_eq!(word("${P/local/opt}", &vars).unwrap(), "/usr/opt/bin");
        assert_eq!(word("${P//\\//:}", &vars).unwrap(), ":usr:local:bin");
        assert_eq!(word("${B#x}", &vars).unwrap(), "");
    }

    #[test]
    fn escapes_follow_the_escape_character() {
        let w = |raw: &str| word_with_escape(raw, '`', &vars).unwrap();
        assert_eq!(w("`$A"), "$A");
        assert_eq!(w("C:\\dir\\$A"), "C:\\dir\\x");
        assert_eq!(w("\"`\"q`\"\""), "\"q\"");
        // Inside double quotes only ", $ and the escape itself are escapes.
        assert_eq!(word("\"a\\nb \\$A \\\\\"", &vars).unwrap(), "a\\nb $A \\");
        assert_eq!(word("a\\ b\\", &vars).unwrap(), "a b");
    }

    #[test]
    fn special_and_positional_parameters_are_empty() {
        assert_eq!(word("[$1][$@][$$][${10}]", &vars).unwrap(), "[][][][]");
        assert_eq!(word("cost: $ 5 $", &vars).unwrap(), "cost: $ 5 $");
    }

    #[test]
    fn malformed_expansions() {
        for bad in [
            "${", "${A", "${A:-x", "${}", "${:-x}", "${{A}}", "${A:x}", "${A^}", "'x",
        ] {
            assert!(word(bad, &vars).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "${B:-".repeat(200), "}".repeat(200));
        assert!(matches!(word(&deep, &vars), Err(ExpandError::TooDeep(_))));
    }

    #[test]
    fn words_split_after_expansion() {
        let w = |raw: &str| words(raw, '\\', &vars).unwrap();
        assert_eq!(w("80/tcp  $A"), ["80/tcp", "x"]);
        assert_eq!(w("$S"), ["a", "b", "c"]);
        assert_eq!(w("\"$S\" 'q r' s\\ t"), ["a b  c", "q r", "s t"]);
        assert_eq!(w("  "), Vec::<String>::new());
        assert_eq!(w("${B:-one two}"), ["one", "two"]);
        assert_eq!(w("\"\" a"), ["a"]);
    }

    #[test]
    fn here_document_text_keeps_quotes() {
        assert_eq!(
            text("echo \"$A\" '$A' \\$A \\n\n", '\\', &vars).unwrap(),
            "echo \"x\" 'x' $A \\n\n"
        );
    }
}
