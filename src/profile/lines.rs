//! Where each field of a YAML document stands: `storm.waves[1].spread` → line 14.
//! serde_yaml does not expose positions, so the text is walked once more with
//! yaml-rust2's event parser, which does. The same walk finds what serde_yaml refuses
//! without a place: a second document, and the aliases behind "repetition limit
//! exceeded". It also stops at the first node nested deeper than [`MAX_DEPTH`]: its paths
//! grow with depth, and the cheap scan (`depth.rs`) that runs first may count less.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::depth::MAX_DEPTH;

#[derive(Debug, Default, Clone)]
pub struct Lines {
    at: HashMap<String, usize>,
    second_document: Option<usize>,
    first_alias: Option<(String, usize)>,
    too_deep: Option<usize>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    at: HashMap<String, usize>,
    first_alias: Option<(String, usize)>,
}

impl Walker {
    /// The path of the node that starts now, advancing the parent's state.
    fn child_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => key
                .take()
                .map(|k| if path.is_empty() { k } else { format!("{path}.{k}") }),
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(value, ..) => {
                let expecting_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if expecting_key {
                    if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                        let full = if path.is_empty() {
                            value.clone()
                        } else {
                            format!("{path}.{value}")
                        };
                        self.at.entry(full).or_insert(line);
                        *key = Some(value);
                    }
                } else if let Some(p) = self.child_path() {
                    self.at.entry(p).or_insert(line);
                }
            }
            Event::MappingStart(..) => {
                let path = self.child_path().unwrap_or_default();
                self.at.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.child_path().unwrap_or_default();
                self.at.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                let path = self.child_path();
                if self.first_alias.is_none() {
                    self.first_alias = Some((path.unwrap_or_default(), line));
                }
            }
            _ => {}
        }
    }
}

impl Lines {
    /// Walks the first document; stops at the start of a second one.
    pub fn of(text: &str) -> Lines {
        let mut w = Walker::default();
        let mut parser = Parser::new_from_str(text);
        let mut documents = 0;
        let mut second_document = None;
        let mut too_deep = None;
        // A document that does not parse gets lines up to its error; serde_yaml reports it.
        while let Ok((ev, mark)) = parser.next_token() {
            match ev {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    if documents == 2 {
                        second_document = Some(mark.line());
                        break;
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) if w.stack.len() == MAX_DEPTH => {
                    too_deep = Some(mark.line());
                    break;
                }
                ev => w.on_event(ev, mark),
            }
        }
        Lines {
            at: w.at,
            second_document,
            first_alias: w.first_alias,
            too_deep,
        }
    }

    /// The line of the first node nested deeper than [`MAX_DEPTH`]; the walk stopped there.
    pub fn too_deep(&self) -> Option<usize> {
        self.too_deep
    }

    /// The line where a second YAML document starts (`---`), if the text has one.
    pub fn second_document(&self) -> Option<usize> {
        self.second_document
    }

    /// The path and line of the first alias (`*name`), if the document uses any.
    pub fn first_alias(&self) -> Option<(&str, usize)> {
        self.first_alias.as_ref().map(|(p, l)| (p.as_str(), *l))
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(l) = self.at.get(&p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_fields_and_list_items() {
        let text = "name: x\nstorm:\n  waves:\n    - { name: a, at: 0s }\n    - name: b\n      spread: bogus\nclient:\n  login:\n    - { name: auth, request: POST /login }\n";
        let l = Lines::of(text);
        assert_eq!(l.line("name"), Some(1));
        assert_eq!(l.line("storm.waves"), Some(3));
        assert_eq!(l.line("storm.waves[0].at"), Some(4));
        assert_eq!(l.line("storm.waves[1].spread"), Some(6));
        assert_eq!(l.line("client.login[0].request"), Some(9));
        // Unknown leaf: its parent's line.
        assert_eq!(l.line("storm.waves[1].nope"), Some(5));
        assert_eq!((l.second_document(), l.first_alias()), (None, None));
    }

    #[test]
    fn finds_a_second_document_and_the_first_alias() {
        let l = Lines::of("---\na: &x 1\nb: [2, *x]\n---\nc: 3\n");
        assert_eq!(l.second_document(), Some(4));
        assert_eq!(l.first_alias(), Some(("b[1]", 3)));
        assert_eq!(l.line("c"), None, "the second document is not walked");
        assert_eq!(Lines::of("a: 1\n---\n").second_document(), Some(2));
    }

    #[test]
    fn stops_at_the_first_node_too_deep() {
        let at = |depth: usize| format!("a:\n  b: {}{}\n", "[".repeat(depth - 2), "]".repeat(depth - 2));
        assert_eq!(Lines::of(&at(MAX_DEPTH)).too_deep(), None);
        assert_eq!(Lines::of(&at(MAX_DEPTH + 1)).too_deep(), Some(2));
        let block = format!("a:\n{}1\n", "- ".repeat(MAX_DEPTH));
        assert_eq!(Lines::of(&block).too_deep(), Some(2));
    }
}
