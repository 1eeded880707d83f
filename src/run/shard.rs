//! Which shard this process is: `--shard I/N`, or `--shard auto` inside a Kubernetes
//! Indexed Job, where the pod's index comes from `JOB_COMPLETION_INDEX` (0-based) and
//! the shard count from `--shards N` or `STAMPEDE_SHARDS`.

use crate::plan::{Part, PartError};

/// Set by Kubernetes in every pod of an Indexed Job.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
/// The shard count for `--shard auto` when `--shards` is not given.
pub const COUNT_VAR: &str = "STAMPEDE_SHARDS";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard {0}")]
    Part(#[from] PartError),
    #[error(
        "--shard auto: ${INDEX_VAR} is not set; it is set in the pods of a Kubernetes Indexed Job (completionMode: Indexed), elsewhere give --shard I/N"
    )]
    NoIndex,
    #[error("--shard auto: ${INDEX_VAR}=`{0}` is not a whole number")]
    BadIndex(String),
    #[error("--shard auto: the shard count is missing: give --shards N or set ${COUNT_VAR}")]
    NoCount,
    #[error("--shard auto: ${COUNT_VAR}=`{0}` is not a whole number above zero")]
    BadCount(String),
    #[error("--shard auto: index {index} is not below the shard count {count}")]
    OutOfRange { index: u32, count: u32 },
}

/// `I/N` (1-based), or `auto`: index from `env(INDEX_VAR)`, count from `count` or
/// `env(COUNT_VAR)`.
pub fn resolve(spec: &str, count: Option<u32>, env: &dyn Fn(&str) -> Option<String>) -> Result<Part, ShardError> {
    if spec.trim() != "auto" {
        return Ok(Part::parse_one_based(spec)?);
    }
    let raw = env(INDEX_VAR).ok_or(ShardError::NoIndex)?;
    let index = raw
        .trim()
        .parse::<u32>()
        .map_err(|_| ShardError::BadIndex(raw.clone()))?;
    let count = match count {
        Some(n) => n,
        None => {
            let raw = env(COUNT_VAR).ok_or(ShardError::NoCount)?;
            raw.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(ShardError::BadCount(raw))?
        }
    };
    if count == 0 {
        return Err(ShardError::BadCount("0".into()));
    }
    if index >= count {
        return Err(ShardError::OutOfRange { index, count });
    }
    Ok(Part { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn auto_reads_the_job_index_and_the_count() {
        let e = env(&[(INDEX_VAR, "2"), (COUNT_VAR, "3")]);
        assert_eq!(resolve("auto", None, &e), Ok(Part { index: 2, count: 3 }));
        assert_eq!(resolve("auto", Some(4), &e), Ok(Part { index: 2, count: 4 }));
        assert_eq!(resolve("2/4", None, &env(&[])), Ok(Part { index: 1, count: 4 }));
    }

    #[test]
    fn auto_says_what_is_missing() {
        assert_eq!(resolve("auto", Some(3), &env(&[])), Err(ShardError::NoIndex));
        assert_eq!(
            resolve("auto", None, &env(&[(INDEX_VAR, "0")])),
            Err(ShardError::NoCount)
        );
        assert_eq!(
            resolve("auto", None, &env(&[(INDEX_VAR, "x")])),
            Err(ShardError::BadIndex("x".into()))
        );
        assert_eq!(
            resolve("auto", None, &env(&[(INDEX_VAR, "0"), (COUNT_VAR, "0")])),
            Err(ShardError::BadCount("0".into()))
        );
        assert_eq!(
            resolve("auto", Some(3), &env(&[(INDEX_VAR, "3")])),
            Err(ShardError::OutOfRange { index: 3, count: 3 })
        );
        assert!(ShardError::NoIndex.to_string().contains("JOB_COMPLETION_INDEX"));
    }
}
