//! Names near a misspelt one: what "did you mean" suggests, for profile keys and for
//! the target's series alike.

/// Levenshtein distance, in characters.
pub fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The one of `known` nearest `name`, if it is near enough to be a slip of the keys
/// (at most 2 edits, and fewer than half the name's length).
pub fn nearest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .filter(|k| *k != name)
        .map(|k| (edits(name, k), k))
        .filter(|(d, _)| *d <= 2 && *d * 2 < name.chars().count())
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested_and_far_ones_not() {
        assert_eq!(edits("kitten", "sitting"), 3);
        let keys = ["max_attempts", "base", "cap", "jitter", "policy"];
        assert_eq!(nearest("max_attempt", keys), Some("max_attempts"));
        assert_eq!(nearest("polcy", keys), Some("policy"));
        assert_eq!(nearest("bse", keys), Some("base"));
        assert_eq!(nearest("ca", keys), None, "one edit in two letters is no slip");
        assert_eq!(nearest("timeout", keys), None);
    }
}
