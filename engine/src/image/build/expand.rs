//! Dockerfile variable expansion: `$NAME`, `${NAME}`, `${NAME:-word}` and
//! `${NAME:+word}` from the stage's ENV and ARG values, as the classic
//! builder does for FROM, ENV, ARG, COPY, ADD, WORKDIR, USER, LABEL,
//! EXPOSE, VOLUME and STOPSIGNAL. Nothing expands inside single quotes
//! (unless they sit inside double quotes), and `\$` is a literal dollar.

/// How substituted values are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Values {
    /// As they are: the text is used as it comes out.
    Plain,
    /// Quoted for the shell-like split that follows (ENV and LABEL's
    /// `KEY=value` pairs), so a value with spaces or quotes stays one
    /// value.
    Quoted,
}

/// `text` with its variables replaced by `value(NAME)` (unset is empty).
pub fn expand(text: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    expand_as(text, value, Values::Plain)
}

/// [`expand`] for text that is split into words afterwards: each value
/// is quoted so that it stays whole, as docker's expansion (done while
/// splitting) keeps it.
pub fn expand_quoted(text: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    expand_as(text, value, Values::Quoted)
}

fn expand_as(text: &str, value: &dyn Fn(&str) -> Option<String>, values: Values) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_single, mut in_double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_double => {
                in_single = !in_single;
                out.push(c);
            }
            '"' if !in_single => {
                in_double = !in_double;
                out.push(c);
            }
            '\\' if !in_single => match chars.next() {
                // A literal dollar; the split that follows unescapes it.
                Some('$') if values == Values::Plain => out.push('$'),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '$' if !in_single => {
                let substituted = match chars.peek() {
                    Some('{') => {
                        chars.next();
                        let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        braced(&inner, value, values, in_double)
                    }
                    Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                        let mut name = String::new();
                        while let Some(c) =
                            chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                        {
                            name.push(c);
                        }
                        quote(&value(&name).unwrap_or_default(), values, in_double)
                    }
                    _ => "$".to_string(),
                };
                out.push_str(&substituted);
            }
            c => out.push(c),
        }
    }
    out
}

/// A value as it goes into the text.
fn quote(text: &str, values: Values, in_double: bool) -> String {
    match (values, in_double) {
        (Values::Plain, _) => text.to_string(),
        (Values::Quoted, true) => text
            .chars()
            .flat_map(|c| match c {
                '\\' | '"' | '$' | '`' => vec!['\\', c],
                c => vec![c],
            })
            .collect(),
        (Values::Quoted, false) => format!("'{}'", text.replace('\'', r"'\''")),
    }
}

/// What `${inner}` becomes.
fn braced(
    inner: &str,
    value: &dyn Fn(&str) -> Option<String>,
    values: Values,
    in_double: bool,
) -> String {
    let set = |name: &str| value(name).filter(|v| !v.is_empty());
    if let Some((name, word)) = inner.split_once(":-") {
        return match set(name) {
            Some(v) => quote(&v, values, in_double),
            None => expand_as(word, value, values),
        };
    }
    if let Some((name, word)) = inner.split_once(":+") {
        return match set(name) {
            Some(_) => expand_as(word, value, values),
            None => String::new(),
        };
    }
    quote(&value(inner).unwrap_or_default(), values, in_double)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("one".into()),
            "EMPTY" => Some(String::new()),
            "FLAGS" => Some("-O2 -g".into()),
            "Q" => Some("it's \"q\"".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_as_the_classic_builder_does() {
        for (text, want) in [
            ("$A/${A}x", "one/onex"),
            ("${MISSING:-dflt} ${A:-dflt} ${EMPTY:-e}", "dflt one e"),
            ("${A:+set} ${MISSING:+set}.", "set ."),
            ("'$A' \"$A\" \\$A", "'$A' \"one\" $A"),
            ("\"Bob's $A\"", "\"Bob's one\""),
            ("cost $5 and $", "cost $5 and $"),
            ("$MISSING.", "."),
        ] {
            assert_eq!(expand(text, &vars), want, "{text}");
        }
    }

    #[test]
    fn values_stay_whole_through_the_split_that_follows() {
        for (text, want) in [
            ("CFLAGS=$FLAGS", vec!["CFLAGS=-O2 -g"]),
            ("Q=\"$Q\" R=$Q", vec!["Q=it's \"q\"", "R=it's \"q\""]),
            ("A=\\$A B=${EMPTY}x", vec!["A=$A", "B=x"]),
        ] {
            let expanded = expand_quoted(text, &vars);
            assert_eq!(
                shlex::split(&expanded).unwrap(),
                want,
                "{text} → {expanded}"
            );
        }
    }
}
