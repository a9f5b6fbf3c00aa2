//! A small reader for the `packages:` list of `pnpm-workspace.yaml`.
//!
//! Only that list is needed, so this reads it instead of pulling in a YAML library: block
//! sequences (`- 'packages/*'`) and flow sequences (`packages: [a, b]`), quoted or plain
//! scalars, comments. Any other top-level key is skipped. Anything it cannot read inside
//! the list is an error with the line number, never a guess.

/// Returns the `packages` globs, or `(line, message)` on input it cannot read.
pub fn parse_packages(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut out = Vec::new();
    let mut in_packages = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if !indented {
            in_packages = false;
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            if key.trim() != "packages" {
                continue;
            }
            let rest = rest.trim();
            if rest.is_empty() {
                in_packages = true;
            } else if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                for item in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    out.push(unquote(item).map_err(|m| (line_no, m))?);
                }
            } else {
                return Err((line_no, "`packages` must be a list".into()));
            }
            continue;
        }
        if in_packages {
            let item = line.trim();
            let Some(value) = item.strip_prefix('-') else {
                return Err((line_no, format!("expected `- <glob>`, found `{item}`")));
            };
            out.push(unquote(value.trim()).map_err(|m| (line_no, m))?);
        }
    }
    Ok(out)
}

/// Drops a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with([' ', '\t']) => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(value: &str) -> Result<String, String> {
    for q in ['\'', '"'] {
        if let Some(rest) = value.strip_prefix(q) {
            return rest
                .strip_suffix(q)
                .map(str::to_owned)
                .ok_or_else(|| format!("unterminated quote in `{value}`"));
        }
    }
    if value.is_empty() {
        return Err("empty list item".into());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_list_with_quotes_and_comments() {
        let text = "# ws\npackages:\n  - 'packages/*'   # libs\n  - \"apps/**\"\n  - '!**/test/**'\n\ncatalog:\n  react: ^18\n";
        assert_eq!(
            parse_packages(text).unwrap(),
            vec!["packages/*", "apps/**", "!**/test/**"]
        );
    }

    #[test]
    fn flow_list() {
        assert_eq!(
            parse_packages("packages: [a/*, 'b']\n").unwrap(),
            vec!["a/*", "b"]
        );
    }

    #[test]
    fn bad_item_names_line() {
        let err = parse_packages("packages:\n  - 'a\n").unwrap_err();
        assert_eq!(err.0, 2);
    }
}
