//! The fast reading of the common body — one call, a JSON object — without building a
//! `serde_json::Value` tree: the envelope is read into borrowed fields and the params are only
//! skipped over; a method reads its params itself when it needs them ([`Params::named`]).
//!
//! It accepts a body only when the general reading would accept it as the very same call: one
//! object, `jsonrpc` exactly `"2.0"`, a method string, params an object or an array (or null or
//! absent), an id that is absent, null, a string or an unsigned integer. Anything else —
//! arrays, escapes in these strings, duplicate members, any error — is left to the general
//! reading, so answers (errors included) never depend on which reading ran.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::{Call, CallId, Params};

/// The call in `body`, when the fast reading applies (see the module header).
pub(super) fn parse(body: &[u8]) -> Option<Call<'_>> {
    if !plain_numbers_only(body) {
        return None;
    }
    let MapOnly(envelope) = serde_json::from_str::<MapOnly<Envelope>>(text_of(body)?).ok()?;
    if envelope.jsonrpc != Some("2.0") {
        return None;
    }
    let params = match envelope.params {
        None => Params::Absent,
        Some(Shape::Container) => Params::InBody(body),
        Some(Shape::Other) => return None,
    };
    Some(Call {
        method: envelope.method?,
        params,
        id: envelope.id.map(|Present(id)| id),
    })
}

/// The body as text. Checking the whole body once is cheaper than serde_json checking each
/// string of it as it reads from bytes (a submission holds about twenty); a body that is not
/// UTF-8 is left to the general reading, which refuses it the same way either way.
fn text_of(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body).ok()
}

/// True when every number in `body` is a plain integer or decimal of at most 20 digits and no
/// string holds a `\u` escape.
/// Members this reading skips are only checked for syntax, while the general reading refuses
/// numbers beyond f64's range (`1e400`); such bodies go to the general reading so both give the
/// same answer. Exponents and long digit runs are all it has to look for.
fn plain_numbers_only(body: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut digits = 0usize;
    let mut previous = b' ';
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                // A `\u` escape may be a lone surrogate, which the general reading refuses.
                (true, b'u') => return false,
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte.is_ascii_digit() {
            digits += 1;
            if digits > 20 {
                return false;
            }
        } else {
            if matches!(byte, b'e' | b'E') && (previous.is_ascii_digit() || previous == b'.') {
                return false;
            }
            if byte != b'.' {
                digits = 0;
            }
        }
        previous = byte;
    }
    true
}

/// The params of a single-call body as a JSON value (read again, on demand).
pub(super) fn params_value(body: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(mut object) => object.remove("params"),
        _ => None,
    }
}

/// The params of a single-call body as `T`, when they are an object `T` accepts.
pub(super) fn named_params<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    let MapOnly(ParamsOf {
        params: MapOnly(params),
    }) = serde_json::from_slice::<MapOnly<ParamsOf<T>>>(body).ok()?;
    Some(params)
}

/// The named params in `value`, when it is an object `T` accepts.
pub(super) fn named_from_value<'a, T: Deserialize<'a>>(value: &'a Value) -> Option<T> {
    MapOnly::<T>::deserialize(value).ok().map(|MapOnly(t)| t)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    jsonrpc: Option<&'a str>,
    #[serde(default, borrow)]
    method: Option<&'a str>,
    /// JSON `null` reads as absent, as in the general reading.
    #[serde(default)]
    params: Option<Shape>,
    #[serde(default, borrow, deserialize_with = "some_id")]
    id: Option<Present<'a>>,
}

/// `Option`'s own reading would turn `"id": null` into "no id" (a notification).
fn some_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Present<'de>>, D::Error> {
    Present::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct ParamsOf<T> {
    params: MapOnly<T>,
}

/// A struct read from a JSON object only: serde's derived structs would also take an array.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = MapOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

/// What the params member holds, its content skipped.
enum Shape {
    Container,
    Other,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Shape::Container)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Container)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
        }
        deserializer.deserialize_any(ShapeVisitor)
    }
}

/// A present `id` member (JSON `null` included, unlike `Option`'s reading of it).
struct Present<'a>(CallId<'a>);

impl<'de> Deserialize<'de> for Present<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = Present<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unescaped string, an unsigned integer or null")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Present(CallId::Text(text)))
            }
            fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
                Ok(Present(CallId::Unsigned(number)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Present(CallId::Null))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

impl CallId<'_> {
    /// The id as the general reading holds it (for error answers, which are rare).
    pub fn as_value(&self) -> Cow<'_, Value> {
        match *self {
            CallId::Value(value) => Cow::Borrowed(value),
            CallId::Text(text) => Cow::Owned(Value::String(text.to_owned())),
            CallId::Unsigned(number) => Cow::Owned(Value::from(number)),
            CallId::Null => Cow::Owned(Value::Null),
        }
    }

    /// Appends the id as JSON, byte for byte what serialising [`Self::as_value`] gives.
    pub(super) fn write_json(&self, out: &mut Vec<u8>) {
        match *self {
            CallId::Value(value) => match serde_json::to_writer(&mut *out, value) {
                Ok(()) => {}
                Err(_) => out.extend_from_slice(b"null"),
            },
            // Borrowed means it held no escapes, so it needs none now.
            CallId::Text(text) => {
                out.push(b'"');
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
            CallId::Unsigned(number) => crate::http::push_decimal(out, number),
            CallId::Null => out.extend_from_slice(b"null"),
        }
    }
}
