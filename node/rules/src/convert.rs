//! JSON values to Python objects and back, preserving key order (docs/spec Appendix C.1).
//!
//! Records cross into Python once per batch, so `to_python` is on the hot path: it builds dicts
//! and lists directly instead of going through a generic serializer.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// A Python object holding `value`: dicts keep key order, integers stay integers.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_python(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => map_to_python(py, map)?.into_any(),
    })
}

/// A Python dict holding `map`, in the map's key order.
pub fn map_to_python<'py>(
    py: Python<'py>,
    map: &Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in map {
        dict.set_item(PyString::new(py, key), to_python(py, value)?)?;
    }
    Ok(dict)
}

fn number_to_python<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    if let Some(i) = n.as_i64() {
        return Ok(i.into_pyobject(py)?.into_any());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into_pyobject(py)?.into_any());
    }
    Ok(PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any())
}

/// The JSON value of a Python object the way StreamAlert serializes records and publications
/// (`json.dumps(..., default=list)`): sets and tuples become lists, non-string dict keys are
/// stringified like `json.dumps` does, and anything else JSON cannot hold becomes its `str()`.
pub fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast_exact::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            map.insert(dict_key(&key)?, from_python(&value)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list
            .iter()
            .map(|item| from_python(&item))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(|item| from_python(&item))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    if obj.cast::<PySet>().is_ok() || obj.cast::<PyFrozenSet>().is_ok() {
        let mut items = obj
            .try_iter()?
            .map(|item| from_python(&item?))
            .collect::<PyResult<Vec<_>>>()?;
        // Set iteration order is arbitrary in CPython; sorting keeps sa's output reproducible.
        items.sort_by_key(|item| item.to_string());
        return Ok(Value::Array(items));
    }
    if let Ok(int) = obj.cast::<PyInt>() {
        if let Ok(i) = int.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = int.extract::<u64>() {
            return Ok(Value::from(u));
        }
        let text = int.str()?.to_string();
        return Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)));
    }
    if let Ok(float) = obj.cast::<PyFloat>() {
        return Ok(Number::from_f64(float.value()).map_or(Value::Null, Value::Number));
    }
    if is_decimal(obj)? {
        let text = obj.str()?.to_string();
        return Ok(serde_json::from_str::<Number>(&text).map_or(Value::String(text), Value::Number));
    }
    if let Ok(mapping) = obj.cast::<pyo3::types::PyMapping>() {
        let mut map = Map::new();
        for key in mapping.keys()?.iter() {
            let value = mapping.get_item(&key)?;
            map.insert(dict_key(&key)?, from_python(&value)?);
        }
        return Ok(Value::Object(map));
    }
    Ok(Value::String(obj.str()?.to_string()))
}

fn is_decimal(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let class = obj.get_type();
    Ok(class.name()?.to_str()? == "Decimal" && class.module()?.to_str()? == "decimal")
}

/// `json.dumps` key rules: str as is, None/bool as JSON literals, numbers as their text.
fn dict_key(key: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = key.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if key.is_none() {
        return Ok("null".to_owned());
    }
    if let Ok(b) = key.cast_exact::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if key.cast::<PyInt>().is_ok() || key.cast::<PyFloat>().is_ok() {
        return Ok(key.repr()?.to_string());
    }
    Err(PyValueError::new_err(format!(
        "keys must be str, int, float, bool or None, not {}",
        key.get_type().name()?
    )))
}

/// Converts a dict that must hold an object (a record, a context, a publication).
pub fn object_from_python(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    match from_python(obj)? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(PyValueError::new_err(format!(
            "{what} must be a dict, not {}",
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_key_order_and_integer_float_distinction() {
        let value =
            json!({"z": 1, "a": [1.5, true, null, "s", {"k": -3}], "m": 18446744073709551615u64});
        let back = Python::attach(|py| from_python(&to_python(py, &value)?)).unwrap();
        assert_eq!(back, value);
        let keys: Vec<_> = back.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn python_only_values_become_json_like_json_dumps_default_list() {
        let value = Python::attach(|py| {
            let obj = py.eval(
                c"{'s': {3}, 't': (1, 2), 1: 'int key', None: 0, 'd': __import__('decimal').Decimal('1.50'), 'big': 2**70}",
                None,
                None,
            )?;
            from_python(&obj)
        })
        .unwrap();
        assert_eq!(value["s"], json!([3]));
        assert_eq!(value["t"], json!([1, 2]));
        assert_eq!(value["1"], json!("int key"));
        assert_eq!(value["null"], json!(0));
        assert_eq!(value["d"], json!(1.50));
        assert_eq!(value["big"].as_f64(), Some(1_180_591_620_717_411_303_424.0));
    }
}
