//! Manifests for people: YAML and a unified, optionally coloured, diff.

use serde_json::Value;

/// `value` as YAML.
pub fn yaml(value: &Value) -> String {
    // A JSON value always serializes; the fallback only guards the type system.
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// A unified diff from `before` to `after` (3 lines of context), red and green with `color`.
pub fn diff(before: &str, after: &str, before_name: &str, after_name: &str, color: bool) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(before_name, after_name)
        .to_string();
    if !color {
        return text;
    }
    text.lines()
        .map(|line| {
            let code = match line.chars().next() {
                Some('+') if !line.starts_with("+++") => "32",
                Some('-') if !line.starts_with("---") => "31",
                Some('@') => "36",
                _ => return format!("{line}\n"),
            };
            format!("\x1b[{code}m{line}\x1b[0m\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_diff() {
        let a = yaml(&json!({"spec": {"containers": [{"name": "api", "image": "api:1"}]}}));
        let b = yaml(&json!({"spec": {"containers": [{"name": "api", "image": "api:2"}]}}));
        assert!(a.contains("image: api:1"), "{a}");
        let d = diff(&a, &b, "source", "mirror", false);
        assert!(d.contains("--- source") && d.contains("+++ mirror"), "{d}");
        assert!(
            d.contains("-    image: api:1") && d.contains("+    image: api:2"),
            "{d}"
        );
        let c = diff(&a, &b, "source", "mirror", true);
        assert!(c.contains("\x1b[32m+    image: api:2\x1b[0m"), "{c}");
        assert_eq!(diff(&a, &a, "s", "m", false), "");
    }
}
