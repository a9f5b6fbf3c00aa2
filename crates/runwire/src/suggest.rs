//! "Did you mean" for misspelt task and package names.

/// The candidates closest to `word` by Damerau–Levenshtein distance (a swap of two
/// neighbouring letters counts once, so `buidl` is one edit from `build`), at most three,
/// nearest first, ties by name. A candidate qualifies within a third of the longer name
/// (at least one edit); a case-only difference always qualifies.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .filter_map(|c| {
            if c.eq_ignore_ascii_case(word) {
                return Some((0, c));
            }
            let distance = strsim::damerau_levenshtein(word, c);
            let limit = (word.chars().count().max(c.chars().count()) / 3).max(1);
            (distance <= limit).then_some((distance, c))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `\n  did you mean `a` or `b`?`, or nothing when no candidate is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let close = closest(word, candidates);
    if close.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
    format!("\n  did you mean {}?", quoted.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposition_and_typos_are_found() {
        let tasks = ["build", "test", "lint", "typecheck", "dev"];
        assert_eq!(closest("buidl", tasks), ["build"]);
        assert_eq!(closest("tset", tasks), ["test"]);
        assert_eq!(closest("typechek", tasks), ["typecheck"]);
        assert_eq!(closest("Build", tasks), ["build"]);
    }

    #[test]
    fn unrelated_names_get_no_suggestion() {
        let tasks = ["build", "test", "lint"];
        assert!(closest("deploy", tasks).is_empty());
        assert!(
            closest("build", tasks).is_empty(),
            "an exact name is no suggestion"
        );
        assert_eq!(did_you_mean("deploy", tasks), "");
    }

    #[test]
    fn nearest_first_at_most_three() {
        let names = ["lib-a", "lib-b", "lib-c", "lib-d", "lib-ab"];
        assert_eq!(closest("lib-", names), ["lib-a", "lib-b", "lib-c"]);
        assert_eq!(
            did_you_mean("lib-ax", ["lib-a", "lib-ab"]),
            "\n  did you mean `lib-a` or `lib-ab`?"
        );
    }
}
