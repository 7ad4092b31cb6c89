//! Configuration errors. Every error names the file or the full key path it is about and prints
//! as one line, whatever the input was: text taken from the file is escaped and shortened before
//! it is shown. Nothing here reads input; `load` and `section` build these values.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// The file is larger than any configuration could sensibly be.
    TooLarge { path: PathBuf, limit_bytes: u64 },
    /// The text is not valid YAML. `path` is `None` when the text did not come from a file.
    Syntax {
        path: Option<PathBuf>,
        source: serde_yaml::Error,
    },
    /// A key's value, or its absence, is wrong. `key` is the full dotted path; empty for the
    /// document itself.
    Key { key: String, problem: Problem },
    /// Two keys that set the same thing are both present.
    Conflict {
        first: String,
        second: String,
        what: &'static str,
    },
}

/// What is wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The key is not part of the configuration.
    Unknown { suggestion: Option<String> },
    /// The key must be given; `hint` says when or what instead.
    Required { hint: Option<&'static str> },
    /// The value has the wrong YAML type.
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// The value has the right type but breaks a rule, e.g. "must be greater than 0".
    Invalid(String),
}

impl ConfigError {
    /// An error about the value of `key`.
    pub fn key(key: impl Into<String>, problem: Problem) -> ConfigError {
        ConfigError::Key {
            key: key.into(),
            problem,
        }
    }

    /// An error about `key` breaking a rule.
    pub fn invalid(key: impl Into<String>, rule: impl Into<String>) -> ConfigError {
        ConfigError::key(key, Problem::Invalid(rule.into()))
    }

    /// The key path this error is about, when it is about one key.
    pub fn key_path(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            ConfigError::Conflict { first, .. } => Some(first),
            _ => None,
        }
    }

    /// Attaches the file a syntax error was found in.
    pub(crate) fn in_file(self, file: &Path) -> ConfigError {
        match self {
            ConfigError::Syntax { path: None, source } => ConfigError::Syntax {
                path: Some(file.to_path_buf()),
                source,
            },
            other => other,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => write!(
                f,
                "config file {}: cannot read: {}",
                printable(&path.display().to_string()),
                io_reason(source)
            ),
            ConfigError::TooLarge { path, limit_bytes } => write!(
                f,
                "config file {}: too large (more than {limit_bytes} bytes)",
                printable(&path.display().to_string())
            ),
            ConfigError::Syntax { path, source } => {
                let reason = one_line(&source.to_string(), MAX_MESSAGE_CHARS);
                match path {
                    Some(path) => write!(
                        f,
                        "config file {}: invalid YAML: {reason}",
                        printable(&path.display().to_string())
                    ),
                    None => write!(f, "config: invalid YAML: {reason}"),
                }
            }
            ConfigError::Key { key, problem } if key.is_empty() => write!(f, "config: {problem}"),
            ConfigError::Key { key, problem } => write!(f, "config key `{key}`: {problem}"),
            ConfigError::Conflict {
                first,
                second,
                what,
            } => write!(
                f,
                "config keys `{first}` and `{second}` both set {what}; keep only one"
            ),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unknown {
                suggestion: Some(known),
            } => write!(f, "unknown key (did you mean `{known}`?)"),
            Problem::Unknown { suggestion: None } => f.write_str("unknown key"),
            Problem::Required { hint: Some(hint) } => write!(f, "required {hint}"),
            Problem::Required { hint: None } => f.write_str("required"),
            Problem::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")?;
                let scalar = matches!(*found, "a whole number" | "a decimal number" | "a boolean");
                if *expected == "a string" && scalar {
                    f.write_str(" (put the value in quotes)")?;
                }
                Ok(())
            }
            Problem::Invalid(rule) => f.write_str(&one_line(rule, MAX_MESSAGE_CHARS)),
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Syntax { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<serde_yaml::Error> for ConfigError {
    fn from(source: serde_yaml::Error) -> ConfigError {
        ConfigError::Syntax { path: None, source }
    }
}

/// Longest piece of file-provided text (a key, a value) shown in a message, in characters.
const MAX_SHOWN_CHARS: usize = 80;
/// Longest reason (a rule, a parser's message) shown in a message, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Makes text from the file safe for a one-line message: control characters escaped, long text
/// shortened with an ellipsis.
pub(crate) fn printable(text: &str) -> String {
    one_line(text, MAX_SHOWN_CHARS)
}

fn one_line(text: &str, max_chars: usize) -> String {
    let mut shown = String::new();
    for (count, ch) in text.chars().enumerate() {
        if count == max_chars {
            shown.push('…');
            break;
        }
        if ch.is_control() {
            shown.extend(ch.escape_default());
        } else {
            shown.push(ch);
        }
    }
    shown
}

/// The operating system's reason without the trailing "(os error N)".
fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    let reason = match text.rsplit_once(" (os error ") {
        Some((reason, code)) if code.ends_with(')') => reason,
        _ => text.as_str(),
    };
    one_line(reason, MAX_MESSAGE_CHARS)
}
