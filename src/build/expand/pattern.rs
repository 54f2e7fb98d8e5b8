//! The shell patterns of `${V#p}`, `${V%p}` and `${V/p/r}`: `*` any string, `?` one
//! character, the escape character makes the next one literal. No bracket expressions, as in
//! BuildKit.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Lit(char),
}

/// A compiled pattern.
pub struct Pattern(Vec<Token>);

impl Pattern {
    pub fn new(text: &str, escape: char) -> Pattern {
        let mut tokens = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::Any,
                c if c == escape => Token::Lit(chars.next().unwrap_or(escape)),
                c => Token::Lit(c),
            });
        }
        Pattern(tokens)
    }

    /// Whether the pattern matches all of `text`: a table of which prefixes of the pattern
    /// match which prefixes of the text, so that many `*` cost no backtracking.
    fn matches(&self, text: &[char]) -> bool {
        let p = &self.0;
        // row[j]: the first i tokens match text[..j].
        let mut row = vec![false; text.len() + 1];
        row[0] = true;
        for token in p {
            let mut next = vec![false; text.len() + 1];
            match token {
                Token::Star => {
                    let mut any = false;
                    for j in 0..=text.len() {
                        any |= row[j];
                        next[j] = any;
                    }
                }
                Token::Any => {
                    next[1..].copy_from_slice(&row[..text.len()]);
                }
                Token::Lit(c) => {
                    for j in 1..=text.len() {
                        next[j] = row[j - 1] && text[j - 1] == *c;
                    }
                }
            }
            row = next;
        }
        row[text.len()]
    }

    /// `${V#p}` (shortest) and `${V##p}` (longest): `value` without the prefix that matches.
    pub fn trim_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut ends: Box<dyn Iterator<Item = usize>> = if longest {
            Box::new((0..=chars.len()).rev())
        } else {
            Box::new(0..=chars.len())
        };
        match ends.find(|&i| self.matches(&chars[..i])) {
            Some(i) => chars[i..].iter().collect(),
            None => value.to_string(),
        }
    }

    /// `${V%p}` (shortest) and `${V%%p}` (longest): `value` without the suffix that matches.
    pub fn trim_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut starts: Box<dyn Iterator<Item = usize>> = if longest {
            Box::new(0..=chars.len())
        } else {
            Box::new((0..=chars.len()).rev())
        };
        match starts.find(|&i| self.matches(&chars[i..])) {
            Some(i) => chars[..i].iter().collect(),
            None => value.to_string(),
        }
    }

    /// `${V/p/r}` (the first match) and `${V//p/r}` (every match): the leftmost match, and
    /// at that place the longest, as a greedy regular expression finds it.
    pub fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut start = 0;
        let mut from = 0;
        while start <= chars.len() {
            let found = (start..=chars.len())
                .rev()
                .find(|&end| self.matches(&chars[start..end]));
            match found {
                Some(end) => {
                    out.extend(&chars[from..start]);
                    out.push_str(replacement);
                    if !all {
                        from = end;
                        break;
                    }
                    // An empty match moves on by one character, or it would match forever.
                    if end == start {
                        out.extend(chars.get(start));
                        start += 1;
                    } else {
                        start = end;
                    }
                    from = start.min(chars.len());
                }
                None => start += 1,
            }
        }
        out.extend(&chars[from.min(chars.len())..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::new(text, '\\')
    }

    #[test]
    fn prefix_and_suffix() {
        assert_eq!(p("*/").trim_prefix("a/b/c", false), "b/c");
        assert_eq!(p("*/").trim_prefix("a/b/c", true), "c");
        assert_eq!(p("/*").trim_suffix("a/b/c", false), "a/b");
        assert_eq!(p("/*").trim_suffix("a/b/c", true), "a");
        assert_eq!(p("x").trim_prefix("abc", false), "abc");
        assert_eq!(p("a?").trim_prefix("abc", false), "c");
        assert_eq!(p("\\*").trim_prefix("*abc", false), "abc");
        assert_eq!(p(".tar.gz").trim_suffix("f.tar.gz", false), "f");
    }

    #[test]
    fn replacements() {
        assert_eq!(p("o").replace("foo", "0", false), "f0o");
        assert_eq!(p("o").replace("foo", "0", true), "f00");
        assert_eq!(p("o*").replace("foo bar", "X", false), "fX");
        assert_eq!(p("z").replace("foo", "X", true), "foo");
        assert_eq!(p("").replace("ab", "-", true), "-a-b-");
    }
}
