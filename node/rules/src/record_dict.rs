//! Records into Python dicts on the hot path, with the dict keys interned once per engine.
//!
//! Records of one log type share their keys, so each key string is created (and hashed) once:
//! later records reuse the same interned `str`, which also lets a rule's `rec['eventName']`
//! find the key by identity.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::{Map, Value};

use crate::convert::to_python;

/// Bound on cached keys, so records with data-dependent keys cannot grow it without limit.
const MAX_KEYS: usize = 20_000;

/// FNV-1a: keys are short, and SipHash's setup cost dominates for them.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

#[derive(Default)]
pub(crate) struct RecordDicts {
    keys: HashMap<String, Py<PyString>, BuildHasherDefault<Fnv>>,
}

impl RecordDicts {
    pub(crate) fn dict<'py>(
        &mut self,
        py: Python<'py>,
        map: &Map<String, Value>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in map {
            let key = self.key(py, key);
            dict.set_item(key, self.value(py, value)?)?;
        }
        Ok(dict)
    }

    fn value<'py>(&mut self, py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        match value {
            Value::Object(map) => Ok(self.dict(py, map)?.into_any()),
            Value::Array(items) if items.iter().any(|item| item.is_object() || item.is_array()) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(self.value(py, item)?)?;
                }
                Ok(list.into_any())
            }
            scalar_or_flat_list => to_python(py, scalar_or_flat_list),
        }
    }

    fn key<'py>(&mut self, py: Python<'py>, key: &str) -> Bound<'py, PyString> {
        if let Some(cached) = self.keys.get(key) {
            return cached.bind(py).clone();
        }
        let interned = PyString::intern(py, key);
        if self.keys.len() < MAX_KEYS {
            self.keys.insert(key.to_owned(), interned.clone().unbind());
        }
        interned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dicts_equal_the_plain_conversion_and_share_key_objects() {
        let record = json!({"a": {"b": [1, {"c": null}], "d": "x"}, "e": [true, 2.5]});
        let mut dicts = RecordDicts::default();
        Python::attach(|py| {
            let first = dicts.dict(py, record.as_object().unwrap()).unwrap();
            let second = dicts.dict(py, record.as_object().unwrap()).unwrap();
            assert!(first.eq(to_python(py, &record).unwrap()).unwrap());
            let (first_key, second_key) = (
                first.keys().get_item(0).unwrap(),
                second.keys().get_item(0).unwrap(),
            );
            assert!(first_key.is(&second_key));
            assert_eq!(crate::convert::from_python(&second).unwrap(), record);
        });
    }
}
