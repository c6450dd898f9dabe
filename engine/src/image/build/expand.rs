//! Dockerfile variable expansion: `$NAME`, `${NAME}`, `${NAME:-word}` and
//! `${NAME:+word}` from the stage's ENV and ARG values, as the classic
//! builder does for FROM, ENV, ARG, COPY, ADD, WORKDIR, USER, LABEL,
//! EXPOSE, VOLUME and STOPSIGNAL. Nothing expands inside single quotes,
//! and `\$` is a literal dollar.

/// `text` with its variables replaced by `value(NAME)` (unset is empty).
pub fn expand(text: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_single_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_single_quotes = !in_single_quotes;
                out.push(c);
            }
            '\\' if !in_single_quotes && chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' if !in_single_quotes => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    out.push_str(&braced(&inner, value));
                }
                Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                    let mut name = String::new();
                    while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                        name.push(c);
                    }
                    out.push_str(&value(&name).unwrap_or_default());
                }
                _ => out.push('$'),
            },
            c => out.push(c),
        }
    }
    out
}

/// What `${inner}` becomes.
fn braced(inner: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some((name, word)) = inner.split_once(":-") {
        return value(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| expand(word, value));
    }
    if let Some((name, word)) = inner.split_once(":+") {
        return match value(name).filter(|v| !v.is_empty()) {
            Some(_) => expand(word, value),
            None => String::new(),
        };
    }
    value(inner).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("one".into()),
            "EMPTY" => Some(String::new()),
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
            ("cost $5 and $", "cost $5 and $"),
            ("$MISSING.", "."),
        ] {
            assert_eq!(expand(text, &vars), want, "{text}");
        }
    }
}
