//! docker's query parameters.

/// docker's booleans: `1`, `true`, `True`.
pub fn truthy(value: &Option<String>) -> bool {
    value
        .as_deref()
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}
