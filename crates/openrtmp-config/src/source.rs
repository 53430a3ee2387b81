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

use crate::model::{Item, Shape, Spec, ROOT};
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

/// Why the key an environment variable names (`STREAMS__GOP_CACHE`, the name without the
/// prefix) is not a configuration key; `None` when it is one. Only the name is looked at:
/// a known key with a bad value is the walker's business, and stays an error.
///
/// Platforms put their own `OPENRTMP_*` variables in the environment (Kubernetes, for a
/// Service named `openrtmp`: `OPENRTMP_SERVICE_HOST`, `OPENRTMP_PORT`,
/// `OPENRTMP_PORT_1935_TCP_ADDR`, ...); those are skipped with a warning, never fatal.
pub(crate) fn env_key_problem(key: &str) -> Option<String> {
    let key = key.to_ascii_lowercase();
    let segments: Vec<&str> = key.split("__").collect();
    let mut spec = &ROOT;
    let mut path = String::new();
    let mut rest = segments.as_slice();
    while let [segment, tail @ ..] = rest {
        path = join(&path, segment);
        if !spec.keys.contains(segment) {
            let hint = match nearest(segment, spec.keys) {
                Some(near) => format!("; did you mean {}?", join(parent(&path), near)),
                None => String::new(),
            };
            return Some(format!("{path}: unknown key{hint}"));
        }
        match (spec.shape(segment), tail) {
            (_, []) => return None,
            (Shape::Section(inner, _), _) => spec = inner,
            // An app name, then nothing: the name's list is the value.
            (Shape::Names(_), [_name]) => return None,
            (Shape::Value | Shape::List(_) | Shape::Names(_), _) => {
                return Some(format!("{path} has no key {}", tail.join("__")));
            }
        }
        rest = tail;
    }
    Some("no key after the prefix".into())
}

/// `a.b` for `a.b.c`; empty at the top.
fn parent(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(parent, _)| parent)
}

/// The accepted key nearest to `key`, when one is close enough to be a typo.
fn nearest<'a>(key: &str, accepted: &[&'a str]) -> Option<&'a str> {
    accepted
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// "unknown key", with the nearest accepted key when one is close.
fn unknown(path: String, key: &str, accepted: &[&str], origin: &Origin) -> ConfigIssue {
    let hint = match nearest(key, accepted) {
        Some(k) => format!(" (did you mean {k}?)"),
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
    let Tree::Map(entries) = &root.tree else {
        issues.push(ConfigIssue::new("", format!("expected a mapping of settings{}", root.origin)));
        return Map::new();
    };
    walk_entries("", &ROOT, entries, issues)
}

/// `prefix.key`, or `key` at the top.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The well-typed entries of one section; a bad entry is left out, the others kept.
fn walk_entries(
    path: &str,
    spec: &Spec,
    entries: &[(String, Node)],
    issues: &mut Vec<ConfigIssue>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, node) in entries {
        let at = join(path, key);
        if !spec.keys.contains(&key.as_str()) {
            issues.push(unknown(at, key, spec.keys, &node.origin));
            continue;
        }
        let value = match spec.shape(key) {
            Shape::Value => {
                let entry =
                    |v: Value| (spec.check)(Value::Object(Map::from_iter([(key.clone(), v)])));
                checked(&at, node, first_ok(node, entry), issues)
            }
            Shape::List(item) => walk_list(&at, item, node, issues),
            Shape::Section(inner, nullable) => walk_section(&at, inner, nullable, node, issues),
            Shape::Names(item) => walk_names(&at, item, node, issues),
        };
        if let Some(value) = value {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// The value, or `None` with the issue recorded.
fn checked(
    path: &str,
    node: &Node,
    result: Result<Value, String>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Value> {
    match result {
        Ok(value) => Some(value),
        Err(message) => {
            issues.push(ConfigIssue::new(path, format!("{message}{}", node.origin)));
            None
        }
    }
}

/// Whether a node is `null` (environment text included).
fn is_null(node: &Node) -> bool {
    node.candidates().first() == Some(&Value::Null)
}

/// A nested section: a mapping, or `null` (kept when the section is a toggle, else
/// ignored).
fn walk_section(
    path: &str,
    spec: &Spec,
    nullable: bool,
    node: &Node,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Value> {
    let node = node.expand();
    match &node.tree {
        Tree::Map(entries) => Some(Value::Object(walk_entries(path, spec, entries, issues))),
        Tree::Leaf(Value::Null) => nullable.then_some(Value::Null),
        _ if nullable && is_null(&node) => Some(Value::Null),
        _ => {
            let what = spec.name;
            issues.push(ConfigIssue::new(
                path,
                format!("expected a mapping of {what} settings{}", node.origin),
            ));
            None
        }
    }
}

/// A list (or one value, as a list of one); each element is checked on its own, at
/// `path[i]`. Left out whole when an element is bad.
fn walk_list(path: &str, item: Item, node: &Node, issues: &mut Vec<ConfigIssue>) -> Option<Value> {
    let node = node.expand();
    let items: Vec<(String, &Node)> = match &node.tree {
        Tree::List(items) => {
            items.iter().enumerate().map(|(i, n)| (format!("{path}[{i}]"), n)).collect()
        }
        _ => vec![(path.to_string(), &node)],
    };
    let before = issues.len();
    let mut out = Vec::new();
    for (at, element) in items {
        let value = match item {
            Item::Value(check) => checked(&at, element, first_ok(element, check), issues),
            Item::Section(spec) if is_null(element) => {
                let what = spec.name;
                let message = format!("expected a mapping of {what} settings{}", element.origin);
                issues.push(ConfigIssue::new(at, message));
                None
            }
            Item::Section(spec) => walk_section(&at, spec, false, element, issues),
        };
        out.extend(value);
    }
    (issues.len() == before).then_some(Value::Array(out))
}

/// Names the operator chooses (app names), each holding a list; `null` for none.
fn walk_names(path: &str, item: Item, node: &Node, issues: &mut Vec<ConfigIssue>) -> Option<Value> {
    let node = node.expand();
    match &node.tree {
        Tree::Map(entries) => Some(Value::Object(
            entries
                .iter()
                .filter_map(|(name, list)| {
                    Some((name.clone(), walk_list(&format!("{path}.{name}"), item, list, issues)?))
                })
                .collect(),
        )),
        _ if is_null(&node) => Some(Value::Null),
        _ => {
            issues.push(ConfigIssue::new(
                path,
                format!("expected a mapping of names to lists{}", node.origin),
            ));
            None
        }
    }
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
