//! Typed, path-aware access to one mapping of the parsed YAML.
//!
//! A `Section` is opened with the list of keys it may contain and rejects any other key right
//! away, naming the full key path and the closest known key. Its getters check the YAML type and
//! the accepted range and return errors that name the key. A key whose value is `~` (null) counts
//! as not given, as it does for optional fields in the PoCX aggregator. No I/O, no state beyond
//! borrowed YAML.

use serde_yaml::Value;

use super::error::{printable, ConfigError, Problem};
use super::schema;

/// Longest key considered when looking for a similar known key, in characters.
const MAX_COMPARED_CHARS: usize = 64;

/// One mapping of the document, with its key path.
pub(crate) struct Section<'a> {
    path: String,
    entries: Vec<(&'a str, &'a Value)>,
}

impl<'a> Section<'a> {
    /// The document itself.
    pub(crate) fn root(document: &'a Value) -> Result<Section<'a>, ConfigError> {
        Section::open(String::new(), document, schema::TOP)
    }

    fn open(path: String, value: &'a Value, known: &[&str]) -> Result<Section<'a>, ConfigError> {
        let mapping = match value {
            Value::Null => return Ok(Section::empty(path)),
            Value::Mapping(mapping) => mapping,
            other => {
                return Err(ConfigError::key(
                    path,
                    Problem::WrongType {
                        expected: "a mapping of keys",
                        found: type_name(other),
                    },
                ))
            }
        };
        let mut entries = Vec::with_capacity(mapping.len());
        for (key, value) in mapping {
            match key {
                Value::String(name) if known.contains(&name.as_str()) => {
                    entries.push((name.as_str(), value))
                }
                other => return Err(unknown_key(&path, other, known)),
            }
        }
        Ok(Section { path, entries })
    }

    fn empty(path: String) -> Section<'a> {
        Section {
            path,
            entries: Vec::new(),
        }
    }

    /// The full path of `key` in this section.
    pub(crate) fn path_of(&self, key: &str) -> String {
        child_path(&self.path, key)
    }

    /// The key's value, `None` when the key is absent or null.
    pub(crate) fn value(&self, key: &str) -> Option<&'a Value> {
        self.raw(key).filter(|value| !value.is_null())
    }

    /// The key's value including an explicit null.
    pub(crate) fn raw(&self, key: &str) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
    }

    /// Whether the key is given with a non-null value.
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    /// The nested section under `key`; empty when absent or null.
    pub(crate) fn section(&self, key: &str, known: &[&str]) -> Result<Section<'a>, ConfigError> {
        match self.value(key) {
            Some(value) => Section::open(self.path_of(key), value, known),
            None => Ok(Section::empty(self.path_of(key))),
        }
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A string that must not be empty.
    pub(crate) fn text(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.string(key)? {
            Some("") => Err(ConfigError::invalid(self.path_of(key), "must not be empty")),
            other => Ok(other),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    /// A whole number in `min..=max`.
    pub(crate) fn uint(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(value) => whole_number(&self.path_of(key), value, min, max).map(Some),
        }
    }

    /// A list of whole numbers in `min..=max`, at most `max_len` long.
    pub(crate) fn uint_list(
        &self,
        key: &str,
        (min, max): (u64, u64),
        max_len: usize,
    ) -> Result<Option<Vec<u64>>, ConfigError> {
        self.list(key, max_len, "a list of whole numbers", |path, item| {
            whole_number(path, item, min, max)
        })
    }

    /// A list of strings, at most `max_len` long.
    pub(crate) fn string_list(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<Option<Vec<&'a str>>, ConfigError> {
        self.list(key, max_len, "a list of strings", |path, item| match item {
            Value::String(text) => Ok(text.as_str()),
            other => Err(ConfigError::key(
                path,
                Problem::WrongType {
                    expected: "a string",
                    found: type_name(other),
                },
            )),
        })
    }

    /// A list at most `max_len` long, each item read by `item` with its path (`key[index]`).
    pub(crate) fn list<T>(
        &self,
        key: &str,
        max_len: usize,
        expected: &'static str,
        item: impl Fn(&str, &'a Value) -> Result<T, ConfigError>,
    ) -> Result<Option<Vec<T>>, ConfigError> {
        let path = self.path_of(key);
        let items = match self.value(key) {
            None => return Ok(None),
            Some(Value::Sequence(items)) => items,
            Some(other) => return Err(self.wrong_type(key, expected, other)),
        };
        if items.len() > max_len {
            let rule = format!("must have at most {max_len} entries");
            return Err(ConfigError::invalid(path, rule));
        }
        items
            .iter()
            .enumerate()
            .map(|(index, value)| item(&format!("{path}[{index}]"), value))
            .collect::<Result<Vec<T>, ConfigError>>()
            .map(Some)
    }

    /// A list item (see [`Section::list`]) read as a mapping of `known` keys.
    pub(crate) fn entry(
        path: String,
        value: &'a Value,
        known: &[&str],
    ) -> Result<Section<'a>, ConfigError> {
        Section::open(path, value, known)
    }

    /// One of `choices`, compared without regard to ASCII case; returns the listed spelling.
    pub(crate) fn choice(
        &self,
        key: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, ConfigError> {
        let Some(given) = self.string(key)? else {
            return Ok(None);
        };
        match choices
            .iter()
            .find(|choice| choice.eq_ignore_ascii_case(given))
        {
            Some(choice) => Ok(Some(choice)),
            None => {
                let rule = format!(
                    "must be one of {}, not `{}`",
                    choices.join(", "),
                    printable(given)
                );
                Err(ConfigError::invalid(self.path_of(key), rule))
            }
        }
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> ConfigError {
        ConfigError::key(
            self.path_of(key),
            Problem::WrongType {
                expected,
                found: type_name(found),
            },
        )
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn whole_number(path: &str, value: &Value, min: u64, max: u64) -> Result<u64, ConfigError> {
    let Value::Number(number) = value else {
        let found = type_name(value);
        let problem = Problem::WrongType {
            expected: "a whole number",
            found,
        };
        return Err(ConfigError::key(path, problem));
    };
    if number.is_f64() {
        let problem = Problem::WrongType {
            expected: "a whole number",
            found: "a decimal number",
        };
        return Err(ConfigError::key(path, problem));
    }
    match number.as_u64() {
        Some(whole) if (min..=max).contains(&whole) => Ok(whole),
        Some(whole) if whole > 0 || min != 1 => Err(out_of_range(path, min, max)),
        _ if min == 1 => Err(ConfigError::invalid(path, "must be greater than 0")),
        _ => Err(out_of_range(path, min, max)),
    }
}

fn out_of_range(path: &str, min: u64, max: u64) -> ConfigError {
    ConfigError::invalid(path, format!("must be from {min} to {max}"))
}

/// How a YAML value's type is named in messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a decimal number",
        Value::Number(_) => "a whole number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn unknown_key(parent: &str, key: &Value, known: &[&str]) -> ConfigError {
    let name = match key {
        Value::String(text) => printable(text),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "~".to_string(),
        other => format!("({})", type_name(other)),
    };
    let suggestion = match key {
        Value::String(text) => suggest(parent, text, known),
        _ => None,
    };
    ConfigError::key(child_path(parent, &name), Problem::Unknown { suggestion })
}

/// The known key the user most likely meant: same name in another case, a close spelling in the
/// same section, or the same name in another section (then as a full path).
fn suggest(parent: &str, key: &str, known: &[&str]) -> Option<String> {
    let wanted: Vec<char> = key
        .chars()
        .take(MAX_COMPARED_CHARS)
        .map(|ch| ch.to_ascii_lowercase())
        .collect();
    let tolerance = (wanted.len() / 3).clamp(1, 3);
    let closest = known
        .iter()
        .map(|candidate| {
            let chars: Vec<char> = candidate.chars().collect();
            (edit_distance(&wanted, &chars), *candidate)
        })
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, _)| *distance <= tolerance);
    if let Some((_, candidate)) = closest {
        return Some(candidate.to_string());
    }
    schema::SECTIONS
        .iter()
        .filter(|(section, _)| *section != parent)
        .find_map(|(section, keys)| {
            keys.iter()
                .find(|candidate| candidate.eq_ignore_ascii_case(key))
                .map(|candidate| child_path(section, candidate))
        })
}

/// Levenshtein distance between two short strings.
fn edit_distance(from: &[char], to: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=to.len()).collect();
    for (row, from_char) in from.iter().enumerate() {
        let mut current = Vec::with_capacity(to.len() + 1);
        current.push(row + 1);
        for (column, to_char) in to.iter().enumerate() {
            let substitute = previous[column] + usize::from(from_char != to_char);
            let insert = current[column] + 1;
            let delete = previous[column + 1] + 1;
            current.push(substitute.min(insert).min(delete));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}
