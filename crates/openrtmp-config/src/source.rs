//! Reading one layer (a YAML or JSON document, or one environment variable) into a plain
//! JSON object of the entries that are well typed, and a list of issues for the others.
//!
//! serde stops at the first error; to report every problem, the document is first read
//! into an untyped tree (with YAML line/column per node), then each entry is checked on its
//! own against the file model.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::{section_spec, ROOT_KEYS};
use crate::ConfigIssue;

/// Where a node came from, appended to its issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// No useful position (JSON documents, flags).
    Unknown,
    /// YAML position, 1-based.
    Line(u64, u64),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Unknown => Ok(()),
            Origin::Line(line, column) => write!(f, " (line {line} column {column})"),
            Origin::Env(name) => write!(f, " (from {name})"),
        }
    }
}

/// An untyped document node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    tree: Tree,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Tree {
    /// A typed scalar (from a document).
    Leaf(Value),
    /// Untyped text (from the environment): read as JSON when it is JSON, else as a string.
    Text(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    fn from_json(value: Value, origin: &Origin) -> Node {
        let tree = match value {
            Value::Array(items) => {
                Tree::List(items.into_iter().map(|v| Node::from_json(v, origin)).collect())
            }
            Value::Object(map) => {
                Tree::Map(map.into_iter().map(|(k, v)| (k, Node::from_json(v, origin))).collect())
            }
            scalar => Tree::Leaf(scalar),
        };
        Node { tree, origin: origin.clone() }
    }

    /// Environment text that is a JSON list or object becomes that structure.
    fn expand(&self) -> Node {
        if let Tree::Text(text) = &self.tree {
            if let Ok(value @ (Value::Array(_) | Value::Object(_))) = serde_json::from_str(text) {
                return Node::from_json(value, &self.origin);
            }
        }
        self.clone()
    }

    /// The candidate JSON values, best first: typed scalars have one; environment text is
    /// tried as JSON (`5`, `true`, `null`, `[..]`), then as a plain string.
    fn candidates(&self) -> Vec<Value> {
        match &self.tree {
            Tree::Leaf(value) => vec![value.clone()],
            Tree::Text(text) => {
                let mut out = Vec::new();
                if let Ok(value) = serde_json::from_str::<Value>(text) {
                    out.push(value);
                }
                out.push(Value::String(text.clone()));
                out
            }
            Tree::List(items) => vec![Value::Array(
                items.iter().filter_map(|n| n.candidates().into_iter().next()).collect(),
            )],
            Tree::Map(entries) => vec![Value::Object(
                entries
                    .iter()
                    .filter_map(|(k, n)| Some((k.clone(), n.candidates().into_iter().next()?)))
                    .collect(),
            )],
        }
    }
}

/// A YAML node with its position, read through serde-saphyr's `Spanned`.
struct YamlNode(Node);

impl<'de> Deserialize<'de> for YamlNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<YamlTree>::deserialize(d)?;
        let at = spanned.referenced;
        Ok(YamlNode(Node { tree: spanned.value.0, origin: Origin::Line(at.line(), at.column()) }))
    }
}

struct YamlTree(Tree);

impl<'de> Deserialize<'de> for YamlTree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = YamlTree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(Value::Bool(v))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(v.into())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(v.into())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(Value::Null)))
    }
    fn visit_none<E: de::Error>(self) -> Result<YamlTree, E> {
        Ok(YamlTree(Tree::Leaf(Value::Null)))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlTree, D::Error> {
        YamlTree::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlTree, A::Error> {
        let mut items = Vec::new();
        while let Some(YamlNode(node)) = seq.next_element()? {
            items.push(node);
        }
        Ok(YamlTree(Tree::List(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlTree, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, YamlNode(node))) = map.next_entry::<String, YamlNode>()? {
            entries.push((key, node));
        }
        Ok(YamlTree(Tree::Map(entries)))
    }
}

/// Parses a YAML document; a syntax error is one issue with its line and column.
pub(crate) fn parse_yaml(text: &str) -> Result<Node, ConfigIssue> {
    match serde_saphyr::from_str::<Option<YamlNode>>(text) {
        Ok(Some(YamlNode(node))) => Ok(node),
        Ok(None) => Ok(empty()),
        Err(err) => {
            let message = match err.location() {
                Some(at) => {
                    format!("line {} column {}: {}", at.line(), at.column(), err.without_snippet())
                }
                None => err.without_snippet().to_string(),
            };
            Err(ConfigIssue::new("", message))
        }
    }
}

/// Parses a JSON document; a syntax error is one issue with its line and column.
pub(crate) fn parse_json(text: &str) -> Result<Node, ConfigIssue> {
    serde_json::from_str::<Value>(text)
        .map(|value| Node::from_json(value, &Origin::Unknown))
        .map_err(|err| ConfigIssue::new("", err.to_string()))
}

fn empty() -> Node {
    Node { tree: Tree::Map(Vec::new()), origin: Origin::Unknown }
}

/// One environment variable as a one-entry document: `OPENRTMP_STREAMS__GOP_CACHE=3s` is
/// `{streams: {gop_cache: "3s"}}`.
pub(crate) fn env_node(name: &str, key: &str, value: &str) -> Node {
    let origin = Origin::Env(name.to_string());
    let mut node = Node { tree: Tree::Text(value.to_string()), origin: origin.clone() };
    for segment in key.to_ascii_lowercase().rsplit("__") {
        node = Node { tree: Tree::Map(vec![(segment.to_string(), node)]), origin: origin.clone() };
    }
    node
}

/// "unknown key", with the nearest accepted key when one is close.
fn unknown(path: String, key: &str, accepted: &[&str], origin: &Origin) -> ConfigIssue {
    let near = accepted
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min();
    let hint = match near {
        Some((_, k)) => format!(" (did you mean {k}?)"),
        None => String::new(),
    };
    ConfigIssue::new(path, format!("unknown key{hint}{origin}"))
}

fn edit_distance(a: &str, b: &str) -> usize {
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

/// Checks every entry of a document; returns the well-typed entries as a JSON object
/// shaped like [`crate::FileConfig`].
pub(crate) fn walk(root: &Node, issues: &mut Vec<ConfigIssue>) -> Map<String, Value> {
    let mut out = Map::new();
    let Tree::Map(entries) = &root.tree else {
        issues.push(ConfigIssue::new("", format!("expected a mapping of settings{}", root.origin)));
        return out;
    };
    for (key, node) in entries {
        if key == "listen" {
            if let Some(list) = walk_listen(node, issues) {
                out.insert(key.clone(), list);
            }
        } else if let Some((keys, check)) = section_spec(key) {
            let section = walk_section(key, keys, check, node, issues);
            if let Some(section) = section {
                out.insert(key.clone(), Value::Object(section));
            }
        } else {
            issues.push(unknown(key.clone(), key, ROOT_KEYS, &node.origin));
        }
    }
    out
}

/// `listen`: a list of addresses, or one address; each element is checked on its own.
fn walk_listen(node: &Node, issues: &mut Vec<ConfigIssue>) -> Option<Value> {
    let node = node.expand();
    let items = match &node.tree {
        Tree::List(items) => {
            items.iter().enumerate().map(|(i, n)| (format!("listen[{i}]"), n)).collect()
        }
        _ => vec![("listen".to_string(), &node)],
    };
    let before = issues.len();
    let mut out = Vec::new();
    for (path, item) in items {
        match first_ok(item, check_as::<crate::unit::Addr>) {
            Ok(value) => out.push(value),
            Err(message) => {
                issues.push(ConfigIssue::new(path, format!("{message}{}", item.origin)))
            }
        }
    }
    (issues.len() == before).then_some(Value::Array(out))
}

fn walk_section(
    name: &str,
    keys: &[&str],
    check: crate::model::CheckEntry,
    node: &Node,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Map<String, Value>> {
    let node = node.expand();
    let entries = match &node.tree {
        Tree::Map(entries) => entries,
        Tree::Leaf(Value::Null) => return None,
        _ => {
            issues.push(ConfigIssue::new(
                name,
                format!("expected a mapping of {name} settings{}", node.origin),
            ));
            return None;
        }
    };
    let mut out = Map::new();
    for (key, value) in entries {
        let path = format!("{name}.{key}");
        if !keys.contains(&key.as_str()) {
            issues.push(unknown(path, key, keys, &value.origin));
            continue;
        }
        let entry = |v: Value| check(Value::Object(Map::from_iter([(key.clone(), v)])));
        match first_ok(value, entry) {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(message) => {
                issues.push(ConfigIssue::new(path, format!("{message}{}", value.origin)))
            }
        }
    }
    Some(out)
}

fn check_as<T: serde::de::DeserializeOwned>(value: Value) -> Result<(), String> {
    serde_json::from_value::<T>(value).map(|_| ()).map_err(|e| e.to_string())
}

/// The first candidate value that passes `check`, or the first candidate's error.
fn first_ok(node: &Node, check: impl Fn(Value) -> Result<(), String>) -> Result<Value, String> {
    let mut first_error = None;
    for candidate in node.candidates() {
        match check(candidate.clone()) {
            Ok(()) => return Ok(candidate),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "no value".into()))
}

/// Layers `upper` over `lower`: objects merge key by key, anything else replaces.
pub(crate) fn merge(lower: &mut Map<String, Value>, upper: Map<String, Value>) {
    for (key, value) in upper {
        match (lower.get_mut(&key), value) {
            (Some(Value::Object(low)), Value::Object(up)) => merge(low, up),
            (_, value) => {
                lower.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("gop_cach", "gop_cache"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn yaml_positions() {
        let node = parse_yaml("rtmp:\n  chunk_size: 64\n").unwrap();
        let Tree::Map(root) = &node.tree else { panic!() };
        let Tree::Map(rtmp) = &root[0].1.tree else { panic!() };
        assert_eq!(rtmp[0].1.origin, Origin::Line(2, 15));
    }

    #[test]
    fn empty_yaml_is_empty() {
        let mut issues = Vec::new();
        assert!(walk(&parse_yaml("").unwrap(), &mut issues).is_empty());
        assert!(walk(&parse_yaml("# nothing\n").unwrap(), &mut issues).is_empty());
        assert_eq!(issues, vec![]);
    }
}
