//! A systemd unit file as text: sections of `Key=value` lines in the order they were added,
//! and the quoting systemd's command lines need.

/// A unit file being written.
#[derive(Debug, Default)]
pub struct Unit {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Unit {
    /// Adds `key=value` to `section` (made on first use, in order).
    pub fn add(&mut self, section: &str, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.sections.iter_mut().find(|(s, _)| s == section) {
            Some((_, lines)) => lines.push((key.to_string(), value)),
            None => self
                .sections
                .push((section.to_string(), vec![(key.to_string(), value)])),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, (name, lines)) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("[{name}]\n"));
            for (k, v) in lines {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }
}

/// One word of an `Exec*=` command line as systemd reads it back as exactly `word`:
/// specifiers (`%`) and variables (`$`) doubled, and quoted when it has blanks, quotes,
/// backslashes or is empty.
pub fn exec_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    let plain = !escaped.is_empty()
        && !escaped
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return escaped;
    }
    let mut out = String::from("\"");
    for c in escaped.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `exec_word` for a word written in a unit file by a person (Quadlet's `Exec=`): its
/// specifiers (`%N`) and variables stay what they are.
pub fn exec_word_keeping_specifiers(word: &str) -> String {
    exec_word(word).replace("%%", "%").replace("$$", "$")
}

/// A command line for `Exec*=`: `words` quoted, `raw` (specifiers such as `%t/%n.ctr-id`)
/// as they are.
pub fn exec_line<'a>(words: impl IntoIterator<Item = Word<'a>>) -> String {
    words
        .into_iter()
        .map(|w| match w {
            Word::Quoted(s) => exec_word(s),
            Word::Raw(s) => s.to_string(),
            Word::Specifiers(s) => exec_word_keeping_specifiers(s),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word of a command line: a literal one, or one written as is (holding specifiers).
#[derive(Debug, Clone, Copy)]
pub enum Word<'a> {
    Quoted(&'a str),
    Raw(&'a str),
    /// Quoted, with its specifiers and variables kept.
    Specifiers(&'a str),
}

/// A value for `Environment=`: `KEY=value`, quoted when it has blanks or quotes.
pub fn env_assignment(assignment: &str) -> String {
    let escaped = assignment.replace('%', "%%").replace('$', "$$");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\\'))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_systemd() {
        assert_eq!(exec_word("busybox"), "busybox");
        assert_eq!(exec_word("a b"), "\"a b\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(exec_word("100%"), "100%%");
        assert_eq!(exec_word("$HOME"), "$$HOME");
        assert_eq!(exec_word("a\\b"), "\"a\\\\b\"");
        let line = exec_line([Word::Quoted("/bin/x"), Word::Raw("--cidfile=%t/%n.ctr-id")]);
        assert_eq!(line, "/bin/x --cidfile=%t/%n.ctr-id");
    }

    #[test]
    fn sections_keep_their_order() {
        let mut u = Unit::default();
        u.add("Unit", "Description", "x");
        u.add("Service", "Type", "notify");
        u.add("Unit", "After", "a.target");
        assert_eq!(
            u.render(),
            "[Unit]\nDescription=x\nAfter=a.target\n\n[Service]\nType=notify\n"
        );
    }
}
