//! Objects only where the API takes objects. Serde's derived structs also read a JSON
//! array as their fields in order (`[null, null]` as a struct of two fields); the API's
//! contract says "object", so the fields holding structs read through these.

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A `T` read from a JSON object and nothing else.
pub struct Strict<T>(pub T);

struct MapOnly<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MapOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Strict<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MapOnly(PhantomData)).map(Strict)
    }
}

/// `deserialize_with` for a struct field.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Strict::deserialize(d).map(|s| s.0)
}

/// `deserialize_with` for an optional struct field (`null` is absent).
pub fn object_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<Strict<T>>::deserialize(d).map(|o| o.map(|s| s.0))
}

/// `deserialize_with` for a list of structs.
pub fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Strict<T>>::deserialize(d).map(|v| v.into_iter().map(|s| s.0).collect())
}

/// `deserialize_with` for an optional list of structs (`null` is absent).
pub fn objects_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Option::<Vec<Strict<T>>>::deserialize(d)
        .map(|o| o.map(|v| v.into_iter().map(|s| s.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Pair {
        a: Option<i32>,
        b: Option<i32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Holder {
        #[serde(default, deserialize_with = "object_opt")]
        pair: Option<Pair>,
    }

    #[test]
    fn arrays_are_not_structs() {
        let plain: Result<Pair, _> = serde_json::from_str("[1, 2]");
        assert!(
            plain.is_ok(),
            "serde's own behaviour this module guards against"
        );
        assert!(serde_json::from_str::<Holder>(r#"{"pair": [1, 2]}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Holder>(r#"{"pair": {"a": 1}}"#).unwrap(),
            Holder {
                pair: Some(Pair {
                    a: Some(1),
                    b: None
                })
            }
        );
        assert_eq!(
            serde_json::from_str::<Holder>(r#"{"pair": null}"#).unwrap(),
            Holder { pair: None }
        );
        assert_eq!(
            serde_json::from_str::<Holder>("{}").unwrap(),
            Holder { pair: None }
        );
    }
}
