//! RFC 6901 JSON pointers into a parsed answer, for captures and checks: what
//! `serde_json::Value::pointer` answers, without its two allocations per reference token
//! on every answer of a storm.

use serde_json::Value;

/// `Value::pointer` (RFC 6901) without its two allocations per reference token: a token
/// is unescaped into a new string only when it holds an escape.
pub(super) fn find<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(v);
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').try_fold(v, |target, raw| {
        let token: std::borrow::Cow<'_, str> = if raw.contains('~') {
            raw.replace("~1", "/").replace("~0", "~").into()
        } else {
            raw.into()
        };
        match target {
            Value::Object(map) => map.get(token.as_ref()),
            Value::Array(list) => {
                // As serde_json: no sign, no leading zero.
                if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
                    return None;
                }
                token.parse::<usize>().ok().and_then(|i| list.get(i))
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pointer_walk_agrees_with_serde_json_on_every_form() {
        let v: Value =
            serde_json::from_str(r#"{"a":{"b":[10,{"c":"x"}]},"a/b":1,"m~n":2,"":3,"0":{"":4},"list":[5,6,7]}"#)
                .unwrap();
        for p in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a~1b",
            "/m~0n",
            "/m~n",
            "/0",
            "/0/",
            "/list/01",
            "/list/+1",
            "/list/-1",
            "/list/1",
            "/list/x",
            "a",
            "/a/b/1/c/d",
            "/~01",
            "//",
        ] {
            assert_eq!(find(&v, p), v.pointer(p), "{p:?}");
        }
    }
}
