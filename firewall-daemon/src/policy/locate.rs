//! Where a key of the policy is in its source: a tree of positions built from the YAML event
//! stream (yaml-rust2's parser, which marks every event), looked up by key path such as
//! `conduits[2].to` or `zones.dmz.networks[1]`.
//!
//! serde_yaml gives positions only for the errors it finds itself; semantic errors found
//! after deserialization are placed with this. It also finds duplicate mapping keys, which
//! serde_yaml reports without a useful position (or not at all).

use std::{collections::HashMap, fmt};

use yaml_rust2::{
    parser::{Event, Parser},
    scanner::Marker,
};

use super::diag::Position;

/// One step of a [`KeyPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// The path from the document root to a node: `conduits[2].rules[0].ports[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by mapping key `key`.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.to_owned()));
        p
    }

    /// This path extended by sequence index `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(index));
        p
    }

    /// Drops the last segment; false if already at the root.
    pub fn pop(&mut self) -> bool {
        self.0.pop().is_some()
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Parses the dotted form serde_yaml prefixes its errors with (`zones.dmz`, `l[2]`,
    /// `conduits[0].rules[1]`). Keys containing `.` or `[` cannot be told apart; such keys
    /// are invalid names anyway.
    pub fn parse(text: &str) -> Option<Self> {
        let mut path = KeyPath::root();
        for part in text.split('.') {
            let (key, mut indexes) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                path.0.push(Segment::Key(key.to_owned()));
            } else if path.is_root() && indexes.is_empty() {
                return None;
            }
            while let Some(rest) = indexes.strip_prefix('[') {
                let close = rest.find(']')?;
                path.0.push(Segment::Index(rest[..close].parse().ok()?));
                indexes = &rest[close + 1..];
            }
            if !indexes.is_empty() {
                return None;
            }
        }
        Some(path)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Node {
    pos: Position,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Scalar,
    Seq(Vec<Node>),
    /// Entries in source order: key text, key position, value.
    Map(Vec<(String, Position, Node)>),
}

/// A mapping key given twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Path of the repeated key.
    pub path: KeyPath,
    pub first: Position,
    pub again: Position,
}

/// Positions of every node of a YAML document.
#[derive(Debug, Default)]
pub struct Locator {
    root: Option<Node>,
    duplicates: Vec<DuplicateKey>,
}

impl Locator {
    /// Builds the position tree of the first document of `src`. A source the event parser
    /// cannot read yields an empty locator: diagnostics then carry no position.
    pub fn new(src: &str) -> Self {
        let mut builder = Builder {
            parser: Parser::new_from_str(src),
            anchors: HashMap::new(),
            duplicates: Vec::new(),
        };
        let root = builder.document();
        Locator {
            root,
            duplicates: builder.duplicates,
        }
    }

    fn node(&self, path: &KeyPath) -> Option<&Node> {
        let mut node = self.root.as_ref()?;
        for seg in path.segments() {
            node = match (seg, &node.kind) {
                (Segment::Key(k), Kind::Map(entries)) => {
                    &entries.iter().find(|(name, _, _)| name == k)?.2
                }
                (Segment::Index(i), Kind::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Where the value at `path` starts (for a block mapping or sequence: its first entry).
    pub fn value(&self, path: &KeyPath) -> Option<Position> {
        self.node(path).map(|n| n.pos)
    }

    /// Where the key that ends `path` is written; for a sequence item, where the item starts.
    pub fn key(&self, path: &KeyPath) -> Option<Position> {
        let (last, parent) = path.segments().split_last()?;
        let parent = self.node(&KeyPath(parent.to_vec()))?;
        match (last, &parent.kind) {
            (Segment::Key(k), Kind::Map(entries)) => entries
                .iter()
                .find(|(name, _, _)| name == k)
                .map(|(_, pos, _)| *pos),
            (Segment::Index(i), Kind::Seq(items)) => items.get(*i).map(|n| n.pos),
            _ => None,
        }
    }

    /// Where the `n`th (0-based) key of the mapping at `path` is written, counting repeated
    /// keys separately (to point at the second of two equal keys).
    pub fn nth_key(&self, path: &KeyPath, n: usize) -> Option<Position> {
        match &self.node(path)?.kind {
            Kind::Map(entries) => entries.get(n).map(|(_, pos, _)| *pos),
            _ => None,
        }
    }

    /// Whether `path` names a node of the document (a key present with a null value counts).
    pub fn exists(&self, path: &KeyPath) -> bool {
        self.node(path).is_some()
    }

    /// Mapping keys given twice in one mapping, in source order.
    pub fn duplicates(&self) -> &[DuplicateKey] {
        &self.duplicates
    }
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Node>,
    duplicates: Vec<DuplicateKey>,
}

fn position(m: &Marker) -> Position {
    // yaml-rust2 markers: line 1-based, column 0-based (in characters).
    Position {
        line: m.line(),
        column: m.col() + 1,
    }
}

impl Builder<'_> {
    fn next(&mut self) -> Option<(Event, Marker)> {
        self.parser.next_token().ok()
    }

    fn document(&mut self) -> Option<Node> {
        loop {
            match self.next()? {
                (Event::StreamStart | Event::DocumentStart, _) => continue,
                (Event::StreamEnd | Event::DocumentEnd, _) => return None,
                (ev, mark) => return self.node(ev, mark, &KeyPath::root()),
            }
        }
    }

    /// Reads the node that starts with `ev`, and all its children.
    fn node(&mut self, ev: Event, mark: Marker, path: &KeyPath) -> Option<Node> {
        let pos = position(&mark);
        let (node, anchor) = match ev {
            Event::Scalar(_, _, anchor, _) => (
                Node {
                    pos,
                    kind: Kind::Scalar,
                },
                anchor,
            ),
            Event::Alias(id) => {
                let mut node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    pos,
                    kind: Kind::Scalar,
                });
                node.pos = pos;
                (node, 0)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, mark) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    let item = self.node(ev, mark, &path.index(items.len()))?;
                    items.push(item);
                }
                // A block sequence is marked at its first item's `-`; use the first item if
                // it is earlier (or the sequence marker is past it).
                let pos = items.first().map_or(pos, |first| pos.min(first.pos));
                (
                    Node {
                        pos,
                        kind: Kind::Seq(items),
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(String, Position, Node)> = Vec::new();
                loop {
                    let (ev, mark) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key_pos = position(&mark);
                    let key = match &ev {
                        Event::Scalar(text, ..) => text.clone(),
                        _ => String::from("?"),
                    };
                    // Complex keys are read (to stay in step) and otherwise ignored.
                    self.node(ev, mark, path)?;
                    let (vev, vmark) = self.next()?;
                    let value = self.node(vev, vmark, &path.key(&key))?;
                    if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == key) {
                        self.duplicates.push(DuplicateKey {
                            path: path.key(&key),
                            first: *first,
                            again: key_pos,
                        });
                    }
                    entries.push((key, key_pos, value));
                }
                // A block mapping is marked after its first key; a flow mapping at its `{`.
                let pos = entries.first().map_or(pos, |(_, k, _)| pos.min(*k));
                (
                    Node {
                        pos,
                        kind: Kind::Map(entries),
                    },
                    anchor,
                )
            }
            _ => return None,
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    fn path(text: &str) -> KeyPath {
        KeyPath::parse(text).unwrap_or_else(|| panic!("bad path {text}"))
    }

    const SRC: &str = "\
version: 1
zones:
  dmz:
    security_level: 2
    networks: [10.20.0.0/24, \"fd00:20::/64\"]
  control: { security_level: 3, networks: [10.30.0.0/24] }
conduits:
  - name: historian
    from: dmz
    to: contrl
    rules:
      - { protocol: tcp, ports: [22, \"1024-2048\"] }
      - protocol: icmp
        types:
          - echo-request
";

    #[test]
    fn paths_parse_and_print() {
        for text in [
            "conduits[2].rules[0].ports[1]",
            "zones.dmz.networks[1]",
            "l[2]",
            "version",
        ] {
            assert_eq!(path(text).to_string(), text);
        }
        assert_eq!(KeyPath::parse("a[x]"), None);
        assert_eq!(KeyPath::root().to_string(), "(top level)");
        assert_eq!(
            KeyPath::root().key("zones").key("dmz").index(0).to_string(),
            "zones.dmz[0]"
        );
    }

    #[test]
    fn finds_values_and_keys() {
        let loc = Locator::new(SRC);
        assert_eq!(loc.value(&path("version")), pos(1, 10));
        assert_eq!(loc.key(&path("version")), pos(1, 1));
        assert_eq!(loc.value(&path("zones.dmz.networks[1]")), pos(5, 30));
        assert_eq!(loc.value(&path("zones.dmz.networks")), pos(5, 15));
        assert_eq!(loc.key(&path("zones.dmz.networks")), pos(5, 5));
        assert_eq!(loc.value(&path("zones.dmz")), pos(4, 5));
        assert_eq!(loc.key(&path("zones.control")), pos(6, 3));
        assert_eq!(loc.value(&path("zones.control")), pos(6, 12));
        assert_eq!(loc.value(&path("zones.control.security_level")), pos(6, 30));
        assert_eq!(loc.value(&path("conduits[0]")), pos(8, 5));
        assert_eq!(loc.key(&path("conduits[0]")), pos(8, 5));
        assert_eq!(loc.value(&path("conduits[0].to")), pos(10, 9));
        assert_eq!(loc.value(&path("conduits[0].rules[0]")), pos(12, 9));
        assert_eq!(
            loc.value(&path("conduits[0].rules[0].ports[1]")),
            pos(12, 38)
        );
        assert_eq!(
            loc.value(&path("conduits[0].rules[1].types[0]")),
            pos(15, 13)
        );
        assert_eq!(loc.value(&path("conduits[0].rules[1]")), pos(13, 9));
        assert_eq!(loc.value(&path("conduits[1]")), None);
        assert_eq!(loc.value(&path("zones.nope")), None);
        assert!(loc.exists(&path("conduits[0].rules")));
        assert!(loc.duplicates().is_empty());
    }

    #[test]
    fn finds_duplicate_keys() {
        let loc = Locator::new("zones:\n  a: {x: 1}\n  b: 2\n  a: 3\nname: p\nname: q\n");
        assert_eq!(
            loc.duplicates(),
            &[
                DuplicateKey {
                    path: path("zones.a"),
                    first: Position { line: 2, column: 3 },
                    again: Position { line: 4, column: 3 },
                },
                DuplicateKey {
                    path: path("name"),
                    first: Position { line: 5, column: 1 },
                    again: Position { line: 6, column: 1 },
                },
            ]
        );
        assert_eq!(loc.nth_key(&path("zones"), 2), pos(4, 3));
    }

    #[test]
    fn aliases_resolve_to_their_anchor_shape() {
        let loc = Locator::new("a: &x {p: 1}\nb: *x\n");
        assert_eq!(loc.value(&path("b")), pos(2, 4));
        assert_eq!(loc.value(&path("b.p")), pos(1, 11));
        assert_eq!(loc.key(&path("b.p")), pos(1, 8));
    }

    #[test]
    fn unreadable_source_has_no_positions() {
        let loc = Locator::new("a: [1, 2\n");
        assert_eq!(loc.value(&path("a")), None);
        let loc = Locator::new("");
        assert_eq!(loc.value(&KeyPath::root()), None);
    }
}
