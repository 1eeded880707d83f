//! A part of a run's clients: the one concept behind shards (machines) and engine
//! threads. Part `index` of `count` owns the clients whose `id % count == index`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

/// A part written wrongly (`--shard`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    #[error("write the part as I/N, e.g. 2/4")]
    Form,
    #[error("`{0}` is not a whole number")]
    Number(String),
    #[error("{index}/{count}: I must be from 1 to N")]
    Range { index: u32, count: u32 },
}

impl Part {
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    pub fn owns(self, client: u32) -> bool {
        client % self.count == self.index
    }

    /// Part `index` of `count` within this one: its clients are a subset of ours.
    pub fn split(self, index: u32, count: u32) -> Part {
        Part {
            index: self.index + self.count * index,
            count: self.count * count,
        }
    }

    /// `I/N`, 1-based as people count shards.
    pub fn parse_one_based(s: &str) -> Result<Part, PartError> {
        let (i, n) = s.split_once('/').ok_or(PartError::Form)?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| PartError::Number(t.trim().to_string()))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(PartError::Range { index, count });
        }
        Ok(Part {
            index: index - 1,
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_split_and_parse() {
        let p = Part::parse_one_based("2/4").unwrap();
        assert_eq!(p, Part { index: 1, count: 4 });
        assert!(p.owns(5) && !p.owns(4));
        let q = p.split(1, 2);
        assert_eq!(q, Part { index: 5, count: 8 });
        assert!(q.owns(13) && p.owns(13));
        assert_eq!(
            Part::parse_one_based("0/4"),
            Err(PartError::Range { index: 0, count: 4 })
        );
        assert_eq!(Part::parse_one_based("x/4"), Err(PartError::Number("x".into())));
        assert_eq!(Part::parse_one_based("4"), Err(PartError::Form));
    }
}
