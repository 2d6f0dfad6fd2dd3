//! Reading client JSON by hand, so that every error names its field
//! (serde's errors on tagged enums and nested values do not).

use serde_json::{Map, Value};

use crate::error::{invalid, ValidationError};

/// `value` as an object, or an error naming `path` and what it should hold.
pub(crate) fn object<'a>(
    value: &'a Value,
    path: &str,
    holding: &str,
) -> Result<&'a Map<String, Value>, ValidationError> {
    value
        .as_object()
        .ok_or_else(|| invalid(format!("{path}: must be an object with {holding}")))
}

/// The first key of `object` that is not in `allowed` is an error.
pub(crate) fn reject_unknown(
    object: &Map<String, Value>,
    path: &str,
    allowed: &[&str],
) -> Result<(), ValidationError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(invalid(format!(
            "{}: unknown field; allowed: {}",
            join_path(path, key),
            allowed.join(", ")
        ))),
    }
}

/// A required member of `object`.
pub(crate) fn required<'a>(
    object: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a Value, ValidationError> {
    object
        .get(key)
        .ok_or_else(|| invalid(format!("{}: missing", join_path(path, key))))
}

/// `value` as a string.
pub(crate) fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str, ValidationError> {
    value
        .as_str()
        .ok_or_else(|| invalid(format!("{path}: must be a string")))
}

/// `value` as an array.
pub(crate) fn array<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], ValidationError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| invalid(format!("{path}: must be a list")))
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_name_the_field() {
        let value = json!({"a": 1, "b": "x"});
        let map = object(&value, "p", "a and b").unwrap();
        assert_eq!(
            reject_unknown(map, "p", &["a"]).unwrap_err().0,
            "p.b: unknown field; allowed: a"
        );
        assert_eq!(required(map, "p", "c").unwrap_err().0, "p.c: missing");
        assert_eq!(
            string(&map["a"], "p.a").unwrap_err().0,
            "p.a: must be a string"
        );
        assert_eq!(
            array(&map["b"], "p.b").unwrap_err().0,
            "p.b: must be a list"
        );
        assert_eq!(
            object(&json!(3), "p", "a and b").unwrap_err().0,
            "p: must be an object with a and b"
        );
    }

    #[test]
    fn top_level_paths_have_no_dot() {
        assert_eq!(join_path("", "name"), "name");
        assert_eq!(join_path("parameters", "range"), "parameters.range");
    }
}
