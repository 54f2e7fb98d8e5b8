//! `--chmod` of COPY and ADD: an octal mode (`0755`) set on every copied entry, or a
//! symbolic one (`u+x,g-w,o=r`, `a+rX`) applied to each entry's own mode as chmod(1) does.
//!
//! A clause without `u`, `g`, `o` or `a` means `a` with no umask: a build has no umask of
//! its own to honour, and BuildKit reads `+x` the same way.

use std::fmt;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One comma-separated clause: who, then one or more operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The permission bits the clause touches (`u` = 0o4700 incl. setuid, ...).
    who: Who,
    ops: Vec<(Op, Perms)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Who {
    u: bool,
    g: bool,
    o: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Set,
}

/// What an operation grants: `rwxXst` letters, or a copy of one class's current bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perms {
    Letters {
        r: bool,
        w: bool,
        x: bool,
        /// `X`: execute only for directories and files some class may already execute.
        big_x: bool,
        s: bool,
        t: bool,
    },
    Copy(char),
}

/// A `--chmod` value that is neither octal nor symbolic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChmod(pub String);

impl fmt::Display for BadChmod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid --chmod {:?}: expected an octal mode such as 0755 or a symbolic one such as u+x,g-w,o=r",
            self.0
        )
    }
}

impl std::error::Error for BadChmod {}

impl Chmod {
    pub fn parse(spec: &str) -> Result<Chmod, BadChmod> {
        let bad = || BadChmod(spec.to_string());
        if spec.starts_with(|c: char| c.is_ascii_digit()) {
            let digits = spec.strip_prefix("0o").unwrap_or(spec);
            return match u32::from_str_radix(digits, 8) {
                Ok(mode) if !digits.is_empty() && mode <= 0o7777 => Ok(Chmod::Octal(mode)),
                _ => Err(bad()),
            };
        }
        spec.split(',')
            .map(|c| parse_clause(c).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Chmod::Symbolic)
    }

    /// The new mode (permission bits, `0o7777`) of an entry whose mode is `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(m) => return *m,
            Chmod::Symbolic(c) => c,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            for &(op, perms) in &clause.ops {
                let mask = clause.who.mask();
                let bits = perms.bits(mode, is_dir) & mask;
                mode = match op {
                    Op::Add => mode | bits,
                    Op::Remove => mode & !bits,
                    // `=` clears the class's bits (setuid/setgid of a directory stay, as
                    // chmod(1) keeps them unless named).
                    Op::Set => {
                        let keep_special = if is_dir { 0o6000 } else { 0 };
                        (mode & !(mask & !keep_special)) | bits
                    }
                };
            }
        }
        mode
    }
}

impl Who {
    fn mask(self) -> u32 {
        let mut m = 0;
        if self.u {
            m |= 0o4700;
        }
        if self.g {
            m |= 0o2070;
        }
        if self.o {
            m |= 0o1007;
        }
        m
    }
}

impl Perms {
    /// The bits this grants for every class (the clause's mask then picks its own).
    fn bits(self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Perms::Letters {
                r,
                w,
                x,
                big_x,
                s,
                t,
            } => {
                let mut b = 0;
                if r {
                    b |= 0o444;
                }
                if w {
                    b |= 0o222;
                }
                if x || (big_x && (is_dir || mode & 0o111 != 0)) {
                    b |= 0o111;
                }
                if s {
                    b |= 0o6000;
                }
                if t {
                    b |= 0o1000;
                }
                b
            }
            Perms::Copy(class) => {
                let three = match class {
                    'u' => (mode >> 6) & 7,
                    'g' => (mode >> 3) & 7,
                    _ => mode & 7,
                };
                three << 6 | three << 3 | three
            }
        }
    }
}

fn parse_clause(text: &str) -> Option<Clause> {
    let who_len = text.find(['+', '-', '='])?;
    let (who_text, mut rest) = text.split_at(who_len);
    let mut who = Who {
        u: false,
        g: false,
        o: false,
    };
    for c in who_text.chars() {
        match c {
            'u' => who.u = true,
            'g' => who.g = true,
            'o' => who.o = true,
            'a' => {
                who = Who {
                    u: true,
                    g: true,
                    o: true,
                }
            }
            _ => return None,
        }
    }
    if who_text.is_empty() {
        who = Who {
            u: true,
            g: true,
            o: true,
        };
    }
    let mut ops = Vec::new();
    while let Some(first) = rest.chars().next() {
        let op = match first {
            '+' => Op::Add,
            '-' => Op::Remove,
            '=' => Op::Set,
            _ => return None,
        };
        rest = &rest[1..];
        let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
        let (letters, tail) = rest.split_at(end);
        rest = tail;
        let perms = match letters {
            "u" | "g" | "o" => Perms::Copy(letters.chars().next()?),
            _ => {
                let mut p = (false, false, false, false, false, false);
                for c in letters.chars() {
                    match c {
                        'r' => p.0 = true,
                        'w' => p.1 = true,
                        'x' => p.2 = true,
                        'X' => p.3 = true,
                        's' => p.4 = true,
                        't' => p.5 = true,
                        _ => return None,
                    }
                }
                Perms::Letters {
                    r: p.0,
                    w: p.1,
                    x: p.2,
                    big_x: p.3,
                    s: p.4,
                    t: p.5,
                }
            }
        };
        ops.push((op, perms));
    }
    if ops.is_empty() {
        return None;
    }
    Some(Clause { who, ops })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(spec: &str, mode: u32, is_dir: bool) -> u32 {
        Chmod::parse(spec).unwrap().apply(mode, is_dir)
    }

    #[test]
    fn octal_modes_replace_the_mode() {
        assert_eq!(apply("755", 0o600, false), 0o755);
        assert_eq!(apply("0644", 0o777, true), 0o644);
        assert_eq!(apply("4755", 0, false), 0o4755);
        assert_eq!(apply("0o700", 0o644, false), 0o700);
    }

    #[test]
    fn symbolic_modes_change_each_entrys_mode_as_chmod_does() {
        assert_eq!(apply("u+x,g-w,o=r", 0o664, false), 0o744);
        assert_eq!(apply("a+rX", 0o600, false), 0o644);
        assert_eq!(apply("a+rX", 0o700, false), 0o755);
        assert_eq!(apply("a+rX", 0o700, true), 0o755);
        assert_eq!(apply("a+rX", 0o600, true), 0o755);
        assert_eq!(apply("+x", 0o644, false), 0o755);
        assert_eq!(apply("go=", 0o777, false), 0o700);
        assert_eq!(apply("g=u", 0o740, false), 0o770);
        assert_eq!(apply("u=rw,go=r", 0o777, false), 0o644);
        assert_eq!(apply("u+s,+t", 0o755, false), 0o5755);
        assert_eq!(apply("o-rwx+r", 0o777, false), 0o774);
        assert_eq!(apply("ug+w-x", 0o755, false), 0o665);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            "", "999", "17777", "-1x", "u", "u+q", "z+x", "u+x,", ",u+x", "u+x g", "rwx",
        ] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?}");
        }
        let e = Chmod::parse("bogus").unwrap_err().to_string();
        assert!(e.contains("\"bogus\"") && e.contains("u+x"), "{e}");
    }
}
