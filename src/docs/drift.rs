//! How the document the code generates differs from a file: the paths `items-api
//! openapi --check` lists, and the key order `--bless` keeps.

use serde_json::Value;

/// Each JSON pointer where `expected` and `actual` differ, with both values; empty
/// when they are the same data (key order aside).
pub fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(expected, actual, String::new(), &mut out);
    out
}

fn collect(expected: &Value, actual: &Value, path: String, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let here = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => collect(x, y, here, out),
                    (Some(x), None) => out.push(format!("{here}: only in the file: {x}")),
                    (None, Some(y)) => out.push(format!("{here}: only in the code: {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                collect(x, y, format!("{path}/{index}"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: the file has {a}, the code {b}")),
        _ => {}
    }
}

/// Reorders every mapping of `value` to follow the order of the same mapping in
/// `like`; keys `like` lacks keep their order after the others.
pub fn order_like(value: &mut Value, like: &Value) {
    match (value, like) {
        (Value::Object(map), Value::Object(like)) => {
            let mut ordered = serde_json::Map::new();
            for key in like.keys() {
                if let Some((key, entry)) = map.remove_entry(key) {
                    ordered.insert(key, entry);
                }
            }
            ordered.append(map);
            for (key, entry) in &mut ordered {
                if let Some(like) = like.get(key) {
                    order_like(entry, like);
                }
            }
            *map = ordered;
        }
        (Value::Array(items), Value::Array(like)) => {
            for (item, like) in items.iter_mut().zip(like) {
                order_like(item, like);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_each_path_and_side() {
        let file = json!({"a": {"b": 1, "c/d": [1, 2]}, "gone": true});
        let code = json!({"a": {"b": 2, "c/d": [1, 3]}, "new": "x"});
        assert_eq!(
            differences(&file, &code),
            [
                "/a/b: the file has 1, the code 2",
                "/a/c~1d/1: the file has 2, the code 3",
                "/gone: only in the file: true",
                "/new: only in the code: \"x\"",
            ]
        );
        assert!(differences(&file, &file).is_empty());
        let reordered = json!({"gone": true, "a": {"c/d": [1, 2], "b": 1}});
        assert!(differences(&file, &reordered).is_empty());
    }

    #[test]
    fn order_like_follows_the_file_and_puts_new_keys_last() {
        let mut code = json!({"b": 1, "new": 2, "a": {"y": 1, "x": [{"q": 1, "p": 2}]}});
        let file = json!({"a": {"x": [{"p": 0, "q": 0}], "y": 0}, "b": 0});
        order_like(&mut code, &file);
        assert_eq!(
            serde_json::to_string(&code).expect("serializes"),
            r#"{"a":{"x":[{"p":2,"q":1}],"y":1},"b":1,"new":2}"#
        );
    }
}
