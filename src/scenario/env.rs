//! `${NAME}` and `${NAME:-default}` in scenario values, expanded from the
//! environment when the scenario is compiled. `$${` writes a literal `${`.

/// Why a value could not be expanded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set (write ${{{0}:-default}} to give a default)")]
    Unset(String),
    #[error("unclosed ${{ in value")]
    Unclosed,
    #[error("invalid variable name {0:?}")]
    BadName(String),
}

/// Expands variables in `value`, looking names up with `lookup`.
pub fn expand_with(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    if !value.contains('$') {
        return Ok(value.to_owned());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(EnvError::Unclosed)?;
            let expr = &after[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(EnvError::BadName(name.to_owned()));
            }
            match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(EnvError::Unset(name.to_owned())),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands variables from the process environment.
pub fn expand(value: &str) -> Result<String, EnvError> {
    expand_with(value, |n| std::env::var(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(n: &str) -> Option<String> {
        match n {
            "HOST" => Some("example".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_defaults_and_escapes() {
        assert_eq!(
            expand_with("http://${HOST}:80", look).unwrap(),
            "http://example:80"
        );
        assert_eq!(
            expand_with("${NOPE:-http://127.0.0.1:8000}/x", look).unwrap(),
            "http://127.0.0.1:8000/x"
        );
        assert_eq!(expand_with("${EMPTY:-d}", look).unwrap(), "d");
        assert_eq!(
            expand_with("cost $5 and $${HOST}", look).unwrap(),
            "cost $5 and ${HOST}"
        );
        assert_eq!(expand_with("plain", look).unwrap(), "plain");
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            expand_with("${NOPE}", look),
            Err(EnvError::Unset("NOPE".into()))
        );
        assert_eq!(expand_with("${HOST", look), Err(EnvError::Unclosed));
        assert_eq!(
            expand_with("${a b}", look),
            Err(EnvError::BadName("a b".into()))
        );
    }
}
