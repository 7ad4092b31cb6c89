//! The one reading of a request body: serde visitors that take any JSON value, in one pass,
//! into the few shapes the envelope and the methods look at, borrowing strings from the body.
//!
//! Every value, even one nobody looks at, is read with `deserialize_any`, so the body is checked
//! exactly as reading it into a `serde_json::Value` would check it: numbers beyond f64's range
//! (`1e400`), lone surrogates (`"\ud800"`), invalid escapes, nesting deeper than serde_json's
//! recursion limit. serde's skipping (`IgnoredAny`, `RawValue`) checks syntax only and is not used.
//! No visitor here ever fails on a well-formed value of an unexpected type: it records what it
//! found instead, so a read error always means "not JSON" (-32700) and every other refusal is
//! decided afterwards, by the envelope rules or the method's own.
//! Duplicate members: the last one wins, as in a `Value`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{value::MapAccessDeserializer, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::MAX_BATCH;

/// The visitor methods for the scalars other than `null`, each giving `$value`.
macro_rules! other_scalars {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// Any JSON value, checked and dropped (members nobody reads).
pub struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor).map(|_| Checked)
    }
}

/// A JSON value as far as a rule needs it: scalars as read, containers checked and dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    /// Borrowed from the body unless it held escapes.
    Text(Cow<'a, str>),
    /// The three kinds of number a `Value` holds: u64, negative i64, f64 (`-0`, fractions,
    /// exponents, integers beyond u64).
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Container,
}

impl Scalar<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The number when it is an integer from 0 to `u64::MAX` (what `Value::as_u64` gives).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Scalar::Unsigned(number) => Some(number),
            Scalar::Signed(number) => u64::try_from(number).ok(),
            _ => None,
        }
    }

    /// The value as a `Value` (containers, never needed as such, as null).
    pub fn to_value(&self) -> Value {
        match self {
            Scalar::Null | Scalar::Container => Value::Null,
            Scalar::Bool(value) => Value::Bool(*value),
            Scalar::Text(text) => Value::String(text.as_ref().to_owned()),
            Scalar::Unsigned(number) => Value::from(*number),
            Scalar::Signed(number) => Value::from(*number),
            Scalar::Float(number) => Value::from(*number),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Unsigned(number))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Signed(number))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(number))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Scalar::Container)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Scalar::Container)
    }
}

/// A call's `params` member: named params are read into `P` (the methods' params type, which
/// reads any object), positional ones are checked only (no method here takes any).
#[derive(Debug)]
pub enum Params<P> {
    /// Absent or JSON `null`.
    Absent,
    Named(P),
    Positional,
    /// Neither an object nor an array: the call is an invalid request.
    Other,
}

impl<P> Params<P> {
    pub fn named(&self) -> Option<&P> {
        match self {
            Params::Named(params) => Some(params),
            _ => None,
        }
    }
}

impl<'de, P: Deserialize<'de>> Deserialize<'de> for Params<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor<P>(PhantomData<P>);
        impl<'de, P: Deserialize<'de>> Visitor<'de> for ParamsVisitor<P> {
            type Value = Params<P>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                P::deserialize(MapAccessDeserializer::new(map)).map(Params::Named)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| Params::Positional)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Params::Absent)
            }
            other_scalars!(Params::Other);
        }
        deserializer.deserialize_any(ParamsVisitor(PhantomData))
    }
}

/// One request object as read, before the envelope rules are applied.
pub enum Request<'a, P> {
    /// Any other JSON value (checked all the same).
    NotObject,
    Object(Members<'a, P>),
}

/// The members of a request object the envelope looks at (`None`: the member is absent).
pub struct Members<'a, P> {
    pub jsonrpc: Option<Scalar<'a>>,
    pub method: Option<Scalar<'a>>,
    pub params: Params<P>,
    pub id: Option<Scalar<'a>>,
}

/// A member's name; escapes are decoded before matching, so `"\u0069d"` is `id`.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Member {
    Jsonrpc,
    Method,
    Params,
    Id,
    #[serde(other)]
    Other,
}

impl<'de, P: Deserialize<'de>> Deserialize<'de> for Request<'de, P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequestVisitor<P>(PhantomData<P>);
        impl<'de, P: Deserialize<'de>> Visitor<'de> for RequestVisitor<P> {
            type Value = Request<'de, P>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Members {
                    jsonrpc: None,
                    method: None,
                    params: Params::Absent,
                    id: None,
                };
                while let Some(member) = map.next_key::<Member>()? {
                    match member {
                        Member::Jsonrpc => members.jsonrpc = Some(map.next_value()?),
                        Member::Method => members.method = Some(map.next_value()?),
                        Member::Params => members.params = map.next_value()?,
                        Member::Id => members.id = Some(map.next_value()?),
                        Member::Other => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(Request::Object(members))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| Request::NotObject)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Request::NotObject)
            }
            other_scalars!(Request::NotObject);
        }
        deserializer.deserialize_any(RequestVisitor(PhantomData))
    }
}

/// A body: one request, or a batch of them.
pub enum Body<'a, P> {
    One(Request<'a, P>),
    Batch(Vec<Request<'a, P>>),
    /// More than [`MAX_BATCH`] calls (the rest are checked, not kept).
    TooLong,
}

impl<'de, P: Deserialize<'de>> Deserialize<'de> for Body<'de, P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor<P>(PhantomData<P>);
        impl<'de, P: Deserialize<'de>> Visitor<'de> for BodyVisitor<P> {
            type Value = Body<'de, P>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut calls = Vec::new();
                while let Some(call) = seq.next_element()? {
                    calls.push(call);
                    if calls.len() > MAX_BATCH {
                        ScalarVisitor.visit_seq(seq)?;
                        return Ok(Body::TooLong);
                    }
                }
                Ok(Body::Batch(calls))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Request::deserialize(MapAccessDeserializer::new(map)).map(Body::One)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Body::One(Request::NotObject))
            }
            other_scalars!(Body::One(Request::NotObject));
        }
        deserializer.deserialize_any(BodyVisitor(PhantomData))
    }
}
