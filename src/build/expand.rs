//! Variable expansion and quote removal in Containerfile words, as the builders do it:
//! `$V`, `${V}`, `${V:-default}`, `${V:+alternative}`; `\$` and single quotes keep a literal
//! `$`; double quotes group but still expand.

/// Why a word cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unterminated quote in {0:?}")]
    UnterminatedQuote(String),
    #[error("unterminated ${{...}} in {0:?}")]
    UnterminatedBrace(String),
    #[error("unsupported expansion ${{{0}}}")]
    Unsupported(String),
}

/// Expands the variables `lookup` knows in `raw` and removes its quotes and escapes.
pub fn word(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\'', None) => quote = Some('\''),
            ('\'', Some('\'')) => quote = None,
            (c, Some('\'')) => out.push(c),
            ('"', None) => quote = Some('"'),
            ('"', Some('"')) => quote = None,
            ('\\', _) => out.extend(chars.next()),
            ('$', _) => out.push_str(&variable(&mut chars, raw, lookup)?),
            (c, _) => out.push(c),
        }
    }
    if quote.is_some() {
        return Err(ExpandError::UnterminatedQuote(raw.to_string()));
    }
    Ok(out)
}

fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    if chars.peek() == Some(&'{') {
        chars.next();
        let mut inner = String::new();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => inner.push(c),
                None => return Err(ExpandError::UnterminatedBrace(raw.to_string())),
            }
        }
        let (name, op) = match inner.find(':') {
            Some(i) => (&inner[..i], Some(&inner[i..])),
            None => (inner.as_str(), None),
        };
        let value = lookup(name).filter(|v| !v.is_empty());
        return match op {
            None => Ok(value.unwrap_or_default()),
            Some(op) if op.starts_with(":-") => Ok(value.unwrap_or_else(|| op[2..].to_string())),
            Some(op) if op.starts_with(":+") => {
                Ok(value.map(|_| op[2..].to_string()).unwrap_or_default())
            }
            Some(_) => Err(ExpandError::Unsupported(inner)),
        };
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() {
        return Ok("$".to_string());
    }
    Ok(lookup(&name).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("x".into()),
            "E" => Some(String::new()),
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
}
