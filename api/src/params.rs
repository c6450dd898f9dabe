//! docker's query parameters: booleans and `filters`.

use crate::error::{ApiError, ApiResult};
use std::collections::HashMap;

/// docker's booleans: `1`, `true`, `True`.
pub fn truthy(value: &Option<String>) -> bool {
    value
        .as_deref()
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `filters={"name":["web"],"label":["a=b"]}` (or the old form
/// `{"name":{"web":true}}`): each key's accepted values.
pub fn filters(text: &str) -> ApiResult<HashMap<String, Vec<String>>> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid filters: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid filters: not a JSON object"))?;
    Ok(object
        .iter()
        .map(|(key, values)| {
            let list = match values {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => Vec::new(),
            };
            (key.clone(), list)
        })
        .collect())
}

/// A `label` filter's value, `KEY` or `KEY=VALUE`, against `labels`.
pub fn label_matches<'a>(
    mut labels: impl Iterator<Item = (&'a String, &'a String)>,
    wanted: &str,
) -> bool {
    match wanted.split_once('=') {
        Some((key, value)) => labels.any(|(k, v)| k == key && v == value),
        None => labels.any(|(k, _)| k == wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_in_both_forms() {
        let new = filters(r#"{"label":["a=b"],"name":["web"]}"#).unwrap();
        assert_eq!(new["label"], ["a=b"]);
        let old = filters(r#"{"name":{"web":true}}"#).unwrap();
        assert_eq!(old["name"], ["web"]);
        assert!(filters("nonsense").is_err());
        assert!(filters("[1]").is_err());
    }

    #[test]
    fn labels_match_by_key_or_pair() {
        let labels = [("a".to_string(), "b".to_string())];
        let iter = || labels.iter().map(|(k, v)| (k, v));
        assert!(label_matches(iter(), "a"));
        assert!(label_matches(iter(), "a=b"));
        assert!(!label_matches(iter(), "a=c"));
        assert!(!label_matches(iter(), "b"));
    }
}
