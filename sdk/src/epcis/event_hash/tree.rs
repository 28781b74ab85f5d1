//! The event as a tree of named values (the algorithm's steps 2 and 3): JSON turned into
//! nodes, corrected and renamed as the specification's reference implementation does.

use super::*;

/// One field: its name, its text, its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) children: Vec<Item>,
}

/// A child: a field, or the members of a business transaction, source or destination, which
/// are written in a fixed order (type first) rather than sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Node(Node),
    Group(Vec<Node>),
}

impl Item {
    pub(super) fn name(&self) -> Option<&str> {
        match self {
            Self::Node(node) => Some(&node.name),
            Self::Group(_) => None,
        }
    }
}

pub(super) fn node(name: impl Into<String>, text: impl Into<String>, children: Vec<Item>) -> Node {
    Node {
        name: name.into(),
        text: text.into(),
        children,
    }
}

/// Python's `str()` of a JSON number, as the reference receives it.
pub(super) fn number_text(number: &serde_json::Number) -> String {
    if number.is_f64() {
        number
            .as_f64()
            .map_or_else(|| number.to_string(), python_float_repr)
    } else {
        number.to_string()
    }
}

/// The text and children of a JSON value.
pub(super) fn to_tree(
    value: &Value,
    context: &HashContext,
    top_level: bool,
) -> (String, Vec<Item>) {
    match value {
        Value::Object(map) => {
            let mut children = Vec::new();
            let text = match map.get("#text") {
                Some(Value::String(text)) => text.clone(),
                _ => String::new(),
            };
            for (key, item) in map {
                if matches!(key.as_str(), "#text" | "rdfs:comment" | "comment") {
                    continue;
                }
                let name = context.key(key);
                if top_level && context.is_ignored(key, &name) {
                    continue;
                }
                let (text, grandchildren) = to_tree(item, context, false);
                if let Value::Array(_) = item {
                    // A list is its elements, each under the list's name.
                    for element in grandchildren {
                        if let Item::Node(element) = element {
                            children.push(Item::Node(node(
                                name.clone(),
                                element.text,
                                element.children,
                            )));
                        }
                    }
                } else {
                    children.push(Item::Node(node(name, text, grandchildren)));
                }
            }
            (text, children)
        }
        Value::Array(items) => {
            let children = items
                .iter()
                .map(|item| {
                    let (text, children) = to_tree(item, context, false);
                    Item::Node(node("", text, children))
                })
                .collect();
            (String::new(), children)
        }
        Value::String(text) => (context.value(text), Vec::new()),
        Value::Number(number) => (number_text(number), Vec::new()),
        Value::Bool(b) => (b.to_string(), Vec::new()),
        // What the reference writes for JSON null.
        Value::Null => ("None".to_owned(), Vec::new()),
    }
}

/// The structure corrections that make a JSON event the same tree as its XML form.
pub(super) fn correct(mut target: Node) -> Node {
    let mut lists: Vec<(String, Vec<Node>)> = Vec::new();
    let mut child_epcs: Vec<Item> = Vec::new();
    let mut rest = Vec::new();
    for child in std::mem::take(&mut target.children) {
        match child {
            Item::Node(child) if child.name.ends_with("List") => {
                let element = node(
                    &child.name[..child.name.len() - 4],
                    child.text,
                    child.children,
                );
                match lists.iter_mut().find(|(name, _)| *name == child.name) {
                    Some((_, elements)) => elements.push(element),
                    None => lists.push((child.name, vec![element])),
                }
            }
            Item::Node(child) if child.name == "childEPCs" => {
                child_epcs.push(Item::Node(node("epc", child.text, Vec::new())));
            }
            other => rest.push(other),
        }
    }
    for (name, elements) in lists {
        let items = if is_typed_list(&name) {
            let id = name[..name.len() - 4].to_owned();
            elements
                .into_iter()
                .map(|e| Item::Group(typed_member_order(e, &id)))
                .collect()
        } else {
            elements.into_iter().map(Item::Node).collect()
        };
        rest.push(Item::Node(node(name, "", items)));
    }
    if !child_epcs.is_empty() {
        rest.push(Item::Node(node("childEPCs", "", child_epcs)));
    }
    target.children = rest
        .into_iter()
        .map(|item| match item {
            // Their members were put in order above; there is nothing below them to correct.
            Item::Node(n) if is_typed_list(&n.name) => Item::Node(n),
            Item::Node(n) => Item::Node(correct(n)),
            group => group,
        })
        .collect();
    rename(target)
}

/// Lists whose elements pair a type with an identifier.
pub(super) fn is_typed_list(name: &str) -> bool {
    matches!(
        name,
        "bizTransactionList" | "sourceList" | "destinationList"
    )
}

/// A business transaction, source or destination: type, identifier, then anything else sorted.
pub(super) fn typed_member_order(element: Node, id: &str) -> Vec<Node> {
    let mut members: Vec<Node> = element
        .children
        .into_iter()
        .filter_map(|item| match item {
            Item::Node(n) => Some(n),
            Item::Group(_) => None,
        })
        .collect();
    let mut ordered = Vec::new();
    for name in ["type", id] {
        if let Some(at) = members.iter().position(|m| m.name == name) {
            ordered.push(members.remove(at));
        }
    }
    members.sort_by(|a, b| (&a.name, &a.text).cmp(&(&b.name, &b.text)));
    ordered.extend(members);
    ordered
}

pub(super) fn rename(mut n: Node) -> Node {
    match n.name.as_str() {
        "inputEPC" | "outputEPC" => n.name = "epc".into(),
        "inputQuantity" | "outputQuantity" | "childQuantity" => n.name = "quantityElement".into(),
        "quantity" if !n.children.is_empty() => n.name = "quantityElement".into(),
        // The JSON of early EPCIS 2.0 drafts wrote these as plain strings.
        "readPoint" | "bizLocation" if n.children.is_empty() && !n.text.is_empty() => {
            let id = std::mem::take(&mut n.text);
            n.children.push(Item::Node(node("id", id, Vec::new())));
        }
        _ => {}
    }
    n
}
