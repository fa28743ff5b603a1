//! Differential test of sa's JMESPath against Python's `jmespath` 0.10 (the version StreamAlert's
//! semantics follow, docs/spec §5.2), installed by `deploy/local/bootstrap.sh`: every built-in
//! function with good and bad arguments, the cases that once differed, and thousands of generated
//! expressions over generated documents. Results are compared as the exact text of
//! `json.dumps(result, separators=(',', ':'))`, so key order, int against float and float
//! formatting all count.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use sa_engine::jmes::JmesPath;
use sa_engine::python::dumps_compact;
use serde_json::{Value, json};

/// What an evaluation gave, in the oracle's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok(String),
    Error,
    /// Python's result has no JSON form (`nan`, an expression reference): not compared.
    Skip,
}

struct Case {
    expr: String,
    doc: Value,
}

fn sa_outcome(case: &Case) -> Outcome {
    match JmesPath::compile(&case.expr) {
        Ok(path) => match path.search(&case.doc) {
            Ok(result) => Outcome::Ok(dumps_compact(&result)),
            Err(_) => Outcome::Error,
        },
        Err(_) => Outcome::Error,
    }
}

fn python_jmespath_dir() -> PathBuf {
    let dir = std::env::var_os("SA_PY_JMESPATH").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/sa/jmespath-0.10.0")
        },
        PathBuf::from,
    );
    assert!(
        dir.join("jmespath/__init__.py").is_file(),
        "Python jmespath 0.10 is not in {}: run deploy/local/bootstrap.sh",
        dir.display()
    );
    dir
}

/// Python's answers for `cases`, in order.
fn python_outcomes(cases: &[Case]) -> Vec<Outcome> {
    let oracle =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jmespath/oracle.py");
    let mut child = Command::new("python3")
        .arg(&oracle)
        .env("PYTHONPATH", python_jmespath_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = String::new();
    for case in cases {
        let line = json!({"expr": case.expr, "doc": case.doc.to_string()});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the oracle finishes");
    writer
        .join()
        .expect("writer")
        .expect("the oracle reads its cases");
    assert!(
        output.status.success(),
        "the oracle failed: {:?}",
        output.status
    );
    let mut lines = std::str::from_utf8(&output.stdout).expect("utf-8").lines();
    let version: Value = serde_json::from_str(lines.next().expect("version line")).expect("json");
    assert_eq!(
        version["version"], "0.10.0",
        "the oracle must be jmespath 0.10.0"
    );
    let outcomes: Vec<Outcome> = lines
        .map(|line| {
            let answer: Value = serde_json::from_str(line).expect("json answer");
            match (&answer["ok"], &answer["error"]) {
                (Value::String(text), _) => Outcome::Ok(text.clone()),
                (_, Value::String(_)) => Outcome::Error,
                _ => Outcome::Skip,
            }
        })
        .collect();
    assert_eq!(outcomes.len(), cases.len(), "one answer per case");
    outcomes
}

/// Runs `cases` on both sides; panics listing every disagreement. Returns how many were compared.
fn assert_agree(cases: &[Case], what: &str) -> usize {
    let python = python_outcomes(cases);
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (case, expected) in cases.iter().zip(&python) {
        if *expected == Outcome::Skip {
            continue;
        }
        compared += 1;
        let actual = sa_outcome(case);
        if actual != *expected {
            mismatches.push(format!(
                "  {}\n    doc:    {}\n    python: {expected:?}\n    sa:     {actual:?}",
                case.expr, case.doc
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{what}: {} of {compared} cases differ from Python jmespath 0.10:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    compared
}

fn people() -> Value {
    json!({
        "people": [
            {"name": "b", "age": 30, "tags": ["x", "y"]},
            {"name": "a", "age": 25.5, "tags": []},
            {"name": "c", "age": 30, "nick": null},
            {"name": "é", "age": -1}
        ],
        "mixed": [{"k": 1}, {"k": "1"}],
        "nested": {"z": {"n": 1}, "a": {"n": 2}, "m": {"n": 3}},
        "numbers": ["10", " 12 ", "1_000", "1.5", "1e3", "-0", "+5", "abc", "", "0x10", "1__0"],
        "@slack.text": "t",
        "@slack.attachments": [{"title": "x", "fields": [{"b": 1, "a": 2}]}],
        "@slack._previous_publication": {"z": 1, "a": 2}
    })
}

/// Every function with arguments it accepts and arguments it rejects, and the semantics that
/// once differed.
const HAND_WRITTEN: &[&str] = &[
    "abs(`-3`)",
    "abs(`-2.5`)",
    "abs('a')",
    "abs(`true`)",
    "abs(`null`)",
    "avg(`[1, 2, 4]`)",
    "avg(`[]`)",
    "avg(`[1, \"a\"]`)",
    "avg(`[true]`)",
    "avg(people[*].age)",
    "ceil(`1.2`)",
    "ceil(`-1.2`)",
    "ceil(`3`)",
    "floor(`1.8`)",
    "floor(`-1.2`)",
    "floor('1')",
    "contains(`[1, 2]`, `1.0`)",
    "contains(`[1]`, `true`)",
    "contains(`[[1]]`, `[true]`)",
    "contains('abc', 'b')",
    "contains('abc', `1`)",
    "contains(`{}`, 'a')",
    "contains('abc', '')",
    "ends_with('abc', 'bc')",
    "ends_with('abc', `1`)",
    "starts_with('abc', 'ab')",
    "starts_with(`1`, 'a')",
    "join(', ', `[\"a\", \"b\"]`)",
    "join(', ', `[\"a\", 1]`)",
    "join(`1`, `[]`)",
    "join('-', people[*].name)",
    "keys(@)",
    "keys(nested)",
    "keys(`[]`)",
    "values(nested)",
    "values(`\"a\"`)",
    "length('héllo')",
    "length(`[1, 2]`)",
    "length(`{\"a\": 1}`)",
    "length(`1`)",
    "length(`null`)",
    "map(&name, people)",
    "map(&nick, people)",
    "map(&[name, age], people)",
    "map('x', `[]`)",
    "map(&a, `{}`)",
    "max(`[1, 3.5, 2]`)",
    "max(`[\"b\", \"a\"]`)",
    "max(`[]`)",
    "max(`[1, \"a\"]`)",
    "max(`[true]`)",
    "max(`[3, 3.0]`)",
    "min(`[1, 3.5, 2]`)",
    "min(`[\"b\", \"a\"]`)",
    "min(`[]`)",
    "min(`[2.0, 2]`)",
    "min('ab')",
    "max_by(people, &age)",
    "max_by(people, &name)",
    "max_by(mixed, &k)",
    "max_by(`[]`, &a)",
    "max_by(people, &nick)",
    "min_by(people, &age)",
    "min_by(people, &name)",
    "min_by(mixed, &k)",
    "min_by(people, &tags)",
    "merge(`{\"b\": 1}`, `{\"a\": 2, \"b\": 3}`)",
    "merge(`{}`)",
    "merge(`1`)",
    "merge(nested, `{\"a\": 0}`)",
    "not_null(`null`, missing, `1`)",
    "not_null(`null`)",
    "not_null(missing, people[0].name)",
    "reverse('abé')",
    "reverse(`[1, 2]`)",
    "reverse(`1`)",
    "sort(`[3, 1.5, 2]`)",
    "sort(`[\"b\", \"a\", \"B\", \"é\"]`)",
    "sort(`[1, \"a\"]`)",
    "sort(`[]`)",
    "sort(`[[1]]`)",
    "sort(`[2, 2.0, 1]`)",
    "sort_by(people, &age)",
    "sort_by(people, &name)",
    "sort_by(mixed, &k)",
    "sort_by(`[]`, &a)",
    "sort_by(people, &tags)",
    "sum(`[1, 2]`)",
    "sum(`[1, 2.5]`)",
    "sum(`[]`)",
    "sum(`[0.1, 0.2]`)",
    "sum(`[\"a\"]`)",
    "to_array(`1`)",
    "to_array(`[1]`)",
    "to_array(`null`)",
    "numbers[*].to_number(@)",
    "to_number(`true`)",
    "to_number(`null`)",
    "to_number(`[1]`)",
    "to_number(`2.5`)",
    "to_string(`{\"b\": 1, \"a\": [1.0, \"é\", 1e16, 1e-7]}`)",
    "to_string('x')",
    "to_string(`null`)",
    "to_string(people[1])",
    "type('a')",
    "type(`1`)",
    "type(`true`)",
    "type(`null`)",
    "type(`[]`)",
    "type(`{}`)",
    "'a' < 'b'",
    "`1` < 'a'",
    "`true` < `false`",
    "`1` == `1.0`",
    "`1` == `true`",
    "`2` == `true`",
    "`1.0` == `true`",
    "`[1]` == `[true]`",
    "`{\"a\": 1, \"b\": 2}` == `{\"b\": 2, \"a\": 1}`",
    "!`0`",
    "!`0.0`",
    "!`[]`",
    "!`{}`",
    "!''",
    "!`1`",
    "`foo`",
    "`  foo bar`",
    "people[?name == `a`].age",
    "people[?contains(tags, 'x')].name",
    "people[?age > `26`].name",
    "people[?age >= `30` && name != 'c'].name",
    "people[*].{n: name, a: age}",
    "people[*].[age, name]",
    "nested.*.n",
    "nested | keys(@)",
    "{z: `1`, a: `2`, m: nested}",
    "`{\"z\": 1, \"a\": 2}`",
    "merge(`{\"z\": 1}`, {a: `2`})",
    "length(people[?age == `30`])",
    "people[].tags[]",
    "people[0:2].name",
    "people[::-1].name",
    "keys(@) | sort(@)",
    "\"@slack.attachments\"[0].fields[0]",
    "to_string(\"@slack._previous_publication\")",
    "values(\"@slack._previous_publication\")",
    "sort_by(people, &age)[*].name",
    "max_by(people, &age).name",
    "map(&to_string(age), people)",
    "people[?to_number(to_string(age)) > `0`].name",
    "&name",
    "[&name]",
    // Grouping that follows Python's parser (docs/spec §5.2).
    "nested.*.n.x",
    "*.n",
    "nested.*.n | [0]",
    "people[0].tags[0:1]",
    "people[0].tags[0:1].x",
    "people[0:1].tags[0]",
    "people[*].tags[0]",
    "people[?age > `26`] | [0].name",
    "@.*.foo.*",
    "map(&age || name, people)",
    "map(&age, people) | [1]",
    "{a: people[0].name b: `1`}",
    "length(people people)",
    "people[].name[]",
    "people[*].tags[]",
    "[*]",
    "*",
    "[]",
    "@[0]",
    "`[[1, 2], [3]]`[0][1:]",
    "`[[1, 2], [3]]`[1:][0]",
    "people[-1].name",
    "people[10]",
    "numbers[::2]",
    "numbers[-2:]",
    "numbers[:-9:-3]",
    "numbers[100:]",
    "a.b.c",
];

#[test]
fn every_function_and_known_difference_agrees_with_python() {
    let doc = people();
    let cases: Vec<Case> = HAND_WRITTEN
        .iter()
        .map(|expr| Case {
            expr: (*expr).to_string(),
            doc: doc.clone(),
        })
        .collect();
    let compared = assert_agree(&cases, "hand-written cases");
    assert!(
        compared >= HAND_WRITTEN.len() - 2,
        "only {compared} compared"
    );
}

/// Random expressions and documents from a small vocabulary, so that fields hit and functions
/// get arguments of every type.
struct Generator {
    rng: fastrand::Rng,
}

const KEYS: &[&str] = &["a", "b", "c", "foo", "bar baz", "z"];
const STRINGS: &[&str] = &[
    "", "a", "b", "foo", "Foo", "é", "10", " 12 ", "1_0", "1.5", "1e3", "abc", "x`y", "it's",
];
const FUNCTIONS: &[(&str, &[Param])] = &[
    ("abs", &[Param::Value]),
    ("avg", &[Param::Value]),
    ("ceil", &[Param::Value]),
    ("contains", &[Param::Value, Param::Value]),
    ("ends_with", &[Param::Value, Param::Value]),
    ("floor", &[Param::Value]),
    ("join", &[Param::Value, Param::Value]),
    ("keys", &[Param::Value]),
    ("length", &[Param::Value]),
    ("map", &[Param::Expref, Param::Value]),
    ("max", &[Param::Value]),
    ("max_by", &[Param::Value, Param::Expref]),
    ("merge", &[Param::Value, Param::Rest]),
    ("min", &[Param::Value]),
    ("min_by", &[Param::Value, Param::Expref]),
    ("not_null", &[Param::Value, Param::Rest]),
    ("reverse", &[Param::Value]),
    ("sort", &[Param::Value]),
    ("sort_by", &[Param::Value, Param::Expref]),
    ("starts_with", &[Param::Value, Param::Value]),
    ("sum", &[Param::Value]),
    ("to_array", &[Param::Value]),
    ("to_number", &[Param::Value]),
    ("to_string", &[Param::Value]),
    ("type", &[Param::Value]),
    ("values", &[Param::Value]),
];

#[derive(Clone, Copy)]
enum Param {
    Value,
    Expref,
    /// Zero to two more arguments like the one before.
    Rest,
}

impl Generator {
    fn value(&mut self, depth: u32) -> Value {
        let pick = if depth == 0 {
            self.rng.u32(0..6)
        } else {
            self.rng.u32(0..9)
        };
        match pick {
            0 => Value::Null,
            1 => Value::Bool(self.rng.bool()),
            2 => json!(self.rng.i64(-3..12)),
            // Halves and quarters: exact in binary, so every way of summing them agrees.
            3 => json!(f64::from(self.rng.i32(-12..40)) / 4.0),
            4 | 5 => json!(STRINGS[self.rng.usize(..STRINGS.len())]),
            6 | 7 => {
                let len = self.rng.usize(0..5);
                // Arrays of one kind often, so that sort/max/sum get arguments they accept.
                if self.rng.bool() {
                    let kind = self.rng.u32(0..2);
                    Value::Array(
                        (0..len)
                            .map(|_| {
                                if kind == 0 {
                                    json!(self.rng.i64(-3..12))
                                } else {
                                    json!(STRINGS[self.rng.usize(..STRINGS.len())])
                                }
                            })
                            .collect(),
                    )
                } else {
                    Value::Array((0..len).map(|_| self.value(depth - 1)).collect())
                }
            }
            _ => {
                let mut map = serde_json::Map::new();
                for _ in 0..self.rng.usize(0..5) {
                    let key = KEYS[self.rng.usize(..KEYS.len())];
                    map.insert(key.to_string(), self.value(depth - 1));
                }
                Value::Object(map)
            }
        }
    }

    /// An object with most of the keys, so that fields hit.
    fn document(&mut self) -> Value {
        let mut map = serde_json::Map::new();
        for key in KEYS {
            if self.rng.u32(0..5) > 0 {
                map.insert((*key).to_string(), self.value(3));
            }
        }
        Value::Object(map)
    }

    fn field(&mut self) -> String {
        let key = KEYS[self.rng.usize(..KEYS.len())];
        if key.contains(' ') || self.rng.u32(0..8) == 0 {
            format!("\"{key}\"")
        } else {
            key.to_string()
        }
    }

    fn literal(&mut self) -> String {
        if self.rng.u32(0..3) == 0 {
            let text = STRINGS[self.rng.usize(..STRINGS.len())];
            return format!("'{}'", text.replace('\'', "\\'"));
        }
        let value = self.value(2);
        format!("`{}`", value.to_string().replace('`', "\\`"))
    }

    fn expr(&mut self, depth: u32) -> String {
        if depth == 0 {
            return match self.rng.u32(0..4) {
                0 => "@".to_string(),
                1 => self.literal(),
                _ => self.field(),
            };
        }
        let d = depth - 1;
        match self.rng.u32(0..27) {
            0 | 1 => self.field(),
            2 => format!("{}.{}", self.expr(d), self.field()),
            3 => format!("{}[{}]", self.expr(d), self.rng.i32(-3..4)),
            4 => {
                let part = |rng: &mut fastrand::Rng| {
                    if rng.bool() {
                        rng.i32(-4..5).to_string()
                    } else {
                        String::new()
                    }
                };
                let (start, stop) = (part(&mut self.rng), part(&mut self.rng));
                let step = [1, 2, -1, -2][self.rng.usize(0..4)];
                format!("{}[{start}:{stop}:{step}]", self.expr(d))
            }
            5 => format!("{}[*].{}", self.expr(d), self.field()),
            6 => format!("{}[]", self.expr(d)),
            7 => format!("{}.*", self.expr(d)),
            8 => format!("{}[?{}]", self.expr(d), self.expr(d)),
            9 => format!("[{}, {}]", self.expr(d), self.expr(d)),
            10 => format!("{{z: {}, a: {}}}", self.expr(d), self.expr(d)),
            11 => self.literal(),
            12 => format!("!{}", self.expr(d)),
            13 => format!("({} && {})", self.expr(d), self.expr(d)),
            14 => format!("({} || {})", self.expr(d), self.expr(d)),
            15 => {
                let op = ["==", "!=", "<", "<=", ">", ">="][self.rng.usize(0..6)];
                format!("({} {op} {})", self.expr(d), self.expr(d))
            }
            16 => format!("{} | {}", self.expr(d), self.expr(d)),
            17 => format!("{}.[{}]", self.expr(d), self.field()),
            18 => format!("*.{}", self.field()),
            19 => format!("[?{}].{}", self.expr(d), self.field()),
            20 => format!(
                "{}[{}][{}:]",
                self.expr(d),
                self.rng.i32(-2..3),
                self.rng.i32(-2..3)
            ),
            21 => format!("[*].{}", self.field()),
            _ => self.call(d),
        }
    }

    fn call(&mut self, depth: u32) -> String {
        let (name, params) = FUNCTIONS[self.rng.usize(..FUNCTIONS.len())];
        let mut args = Vec::new();
        for param in params {
            match param {
                Param::Value => args.push(self.expr(depth)),
                Param::Expref => args.push(format!("&{}", self.expr(depth))),
                Param::Rest => {
                    for _ in 0..self.rng.usize(0..3) {
                        args.push(self.expr(depth));
                    }
                }
            }
        }
        format!("{name}({})", args.join(", "))
    }
}

#[test]
fn generated_expressions_agree_with_python() {
    let seed = std::env::var("SA_JMESPATH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_207);
    let mut generator = Generator {
        rng: fastrand::Rng::with_seed(seed),
    };
    let cases: Vec<Case> = (0..6_000)
        .map(|i| {
            let depth = 1 + (i % 4);
            Case {
                expr: generator.expr(depth),
                doc: generator.document(),
            }
        })
        .collect();
    let compared = assert_agree(&cases, &format!("generated cases (seed {seed})"));
    let outcomes = python_outcomes(&cases);
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Ok(text) if text != "null"))
        .count();
    let errors = outcomes.iter().filter(|o| **o == Outcome::Error).count();
    println!(
        "{compared} of {} generated cases compared: {ok} with a non-null result, {errors} errors",
        cases.len()
    );
    // A generator that only produced errors or nulls would prove little.
    assert!(ok * 3 > cases.len(), "only {ok} non-null results");
}
