//! Tokens of CQL2-text. Positions are 1-based character (not byte) offsets,
//! so that an error in `S_NAME = '白山一丁目' AND` points where a person counts.

use std::fmt;

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An unquoted identifier or keyword, as written.
    Ident(String),
    /// A `"double quoted"` identifier, unescaped.
    Quoted(String),
    /// A `'string'` literal, unescaped.
    Str(String),
    Int(i64),
    Real(f64),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// An arithmetic operator (`+ - * /`), which CQL2 basic filters do not
    /// take; kept as a token so that the parser can say so.
    Arith(char),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// 1-based character offset of the token's first character.
    pub pos: usize,
    /// The token as written, for messages.
    pub text: String,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tok {
            Tok::Eof => write!(f, "end of input"),
            Tok::Str(_) => write!(f, "string {}", self.text),
            Tok::Int(_) | Tok::Real(_) => write!(f, "number {}", self.text),
            Tok::Quoted(_) => write!(f, "property {}", self.text),
            _ => write!(f, "'{}'", self.text),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (!c.is_ascii() && !c.is_whitespace())
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '.' | ':')
        || (!c.is_ascii() && !c.is_whitespace())
}

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let n = chars.len();
    let slice = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    while i < n {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok =
            match c {
                '(' => {
                    i += 1;
                    Tok::LParen
                }
                ')' => {
                    i += 1;
                    Tok::RParen
                }
                ',' => {
                    i += 1;
                    Tok::Comma
                }
                '=' => {
                    i += 1;
                    Tok::Eq
                }
                '<' => {
                    i += 1;
                    match chars.get(i) {
                        Some('=') => {
                            i += 1;
                            Tok::Le
                        }
                        Some('>') => {
                            i += 1;
                            Tok::Ne
                        }
                        _ => Tok::Lt,
                    }
                }
                '>' => {
                    i += 1;
                    if chars.get(i) == Some(&'=') {
                        i += 1;
                        Tok::Ge
                    } else {
                        Tok::Gt
                    }
                }
                '!' if chars.get(i + 1) == Some(&'=') => {
                    i += 2;
                    Tok::Ne
                }
                '\'' => {
                    let mut s = String::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => {
                                return Err(ParseError::new(
                                    pos,
                                    "unterminated string: no closing ' for the one here",
                                ))
                            }
                            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                                s.push('\'');
                                i += 2;
                            }
                            Some('\\') if chars.get(i + 1) == Some(&'\'') => {
                                s.push('\'');
                                i += 2;
                            }
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(&ch) => {
                                s.push(ch);
                                i += 1;
                            }
                        }
                    }
                    Tok::Str(s)
                }
                '"' => {
                    let mut s = String::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(ParseError::new(
                                pos,
                                "unterminated quoted property name: no closing \" for the one here",
                            )),
                            Some('"') if chars.get(i + 1) == Some(&'"') => {
                                s.push('"');
                                i += 2;
                            }
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some(&ch) => {
                                s.push(ch);
                                i += 1;
                            }
                        }
                    }
                    if s.is_empty() {
                        return Err(ParseError::new(pos, "empty quoted property name"));
                    }
                    Tok::Quoted(s)
                }
                c if c.is_ascii_digit()
                    || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
                    || ((c == '-' || c == '+')
                        && chars
                            .get(i + 1)
                            .is_some_and(|d| d.is_ascii_digit() || *d == '.')) =>
                {
                    if c == '-' || c == '+' {
                        i += 1;
                    }
                    let mut real = false;
                    while i < n && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i < n && chars[i] == '.' {
                        real = true;
                        i += 1;
                        while i < n && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                    if i < n && (chars[i] == 'e' || chars[i] == 'E') {
                        let mut j = i + 1;
                        if j < n && (chars[j] == '+' || chars[j] == '-') {
                            j += 1;
                        }
                        if j < n && chars[j].is_ascii_digit() {
                            real = true;
                            i = j;
                            while i < n && chars[i].is_ascii_digit() {
                                i += 1;
                            }
                        }
                    }
                    if i < n && is_ident_start(chars[i]) {
                        return Err(ParseError::new(
                            i + 1,
                            format!(
                                "unexpected '{}' right after the number {}",
                                chars[i],
                                slice(start, i)
                            ),
                        ));
                    }
                    let t = slice(start, i);
                    let t = t.strip_prefix('+').unwrap_or(&t);
                    match (real, t.parse::<i64>()) {
                        (false, Ok(v)) => Tok::Int(v),
                        _ => match t.parse::<f64>() {
                            Ok(v) if v.is_finite() => Tok::Real(v),
                            _ => return Err(ParseError::new(pos, format!("invalid number {t}"))),
                        },
                    }
                }
                '+' | '-' | '*' | '/' => {
                    i += 1;
                    Tok::Arith(c)
                }
                c if is_ident_start(c) => {
                    while i < n && is_ident_continue(chars[i]) {
                        i += 1;
                    }
                    Tok::Ident(slice(start, i))
                }
                other => {
                    return Err(ParseError::new(
                        pos,
                        format!("unexpected character '{other}'"),
                    ))
                }
            };
        out.push(Token {
            tok,
            pos,
            text: slice(start, i),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: n + 1,
        text: String::new(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn operators_numbers_and_strings() {
        assert_eq!(
            toks("a<>1 AND b>=-2.5e1 OR c != 'it''s'"),
            vec![
                Tok::Ident("a".into()),
                Tok::Ne,
                Tok::Int(1),
                Tok::Ident("AND".into()),
                Tok::Ident("b".into()),
                Tok::Ge,
                Tok::Real(-25.0),
                Tok::Ident("OR".into()),
                Tok::Ident("c".into()),
                Tok::Ne,
                Tok::Str("it's".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let t = tokenize("氏名 = '白山' AND").unwrap();
        assert_eq!(t[0].tok, Tok::Ident("氏名".into()));
        assert_eq!(t[1].pos, 4);
        assert_eq!(t[2].pos, 6);
        assert_eq!(t[3].pos, 11);
        assert_eq!(t[4].pos, 14);
    }

    #[test]
    fn unterminated_string_points_at_its_start() {
        let e = tokenize("S_NAME = '白山").unwrap_err();
        assert_eq!(e.position, 10);
    }
}
