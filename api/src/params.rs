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
/// `{"name":{"web":true}}`): each key's accepted values; none when the
/// parameter is absent or empty.
pub fn parse_filters(text: Option<&str>) -> ApiResult<HashMap<String, Vec<String>>> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(HashMap::new());
    };
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

/// [`parse_filters`], refusing keys other than `supported` (a filter
/// that is not applied is refused, not ignored).
pub fn filters(text: Option<&str>, supported: &[&str]) -> ApiResult<HashMap<String, Vec<String>>> {
    let filters = parse_filters(text)?;
    if let Some(key) = filters.keys().find(|k| !supported.contains(&k.as_str())) {
        let supported = match supported {
            [] => "none".to_string(),
            keys => keys.join(", "),
        };
        return Err(ApiError::bad_request(format!(
            "invalid filter '{key}': not supported here (supported: {supported})"
        )));
    }
    Ok(filters)
}

/// A `label` filter's value, `KEY` or `KEY=VALUE`, against labels (the
/// engine's, as events are matched there too).
pub use engine::container::label_matches;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_in_both_forms() {
        let new = parse_filters(Some(r#"{"label":["a=b"],"name":["web"]}"#)).unwrap();
        assert_eq!(new["label"], ["a=b"]);
        let old = parse_filters(Some(r#"{"name":{"web":true}}"#)).unwrap();
        assert_eq!(old["name"], ["web"]);
        assert!(parse_filters(Some("nonsense")).is_err());
        assert!(parse_filters(Some("[1]")).is_err());
        assert!(parse_filters(None).unwrap().is_empty());
        assert!(parse_filters(Some("")).unwrap().is_empty());
    }

    #[test]
    fn unsupported_filters_are_refused() {
        assert!(filters(Some(r#"{"name":["web"]}"#), &["name"]).is_ok());
        let e = filters(Some(r#"{"until":["1h"]}"#), &[]).unwrap_err();
        assert!(e.message.contains("not supported"), "{}", e.message);
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
