//! The Terraform module for AWS (deploy/terraform/aws, issue #19). Its HCL is parsed and checked
//! for what the module promises: the resources, documented variables and outputs, declared
//! references, security groups that open gRPC only to the nodes and the admins, and IAM
//! statements that name their resources and grant only calls sa makes. The user-data script's
//! metrics pusher runs against a real node. Where the tools are on the machine, `terraform fmt`,
//! `terraform validate` (with a local provider mirror), the rendered user data under `bash -n`
//! and shellcheck, and an apply against moto_server run too.
//!
//! terraform cannot come from the registries a fresh machine reaches (crates.io, PyPI, Debian,
//! npm: HashiCorp ships it from its own site, and the PyPI and npm wrappers download it from
//! there), so the tests that need it say on stderr that they did not run and pass where it is
//! missing (deploy/terraform/aws/README.md says the same). The structural checks need nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hcl::{Block, Body, Expression, ObjectKey};
use regex::Regex;
use sa_chaos_tests::{MotoServer, NodeOptions, NodeProcess, repository_root, workspace_binary};
use serde_json::Value;

/// Statements allowed to have `Resource: "*"`, each because AWS offers no resource-level
/// permission for its action; the README documents each.
const WILDCARD_RESOURCE_ALLOWED: &[&str] = &["PutMetrics"];

fn module_dir() -> PathBuf {
    repository_root().join("deploy/terraform/aws")
}

// ---------------------------------------------------------------------------------------------
// Parsing and walking HCL
// ---------------------------------------------------------------------------------------------

struct TfFile {
    path: PathBuf,
    body: Body,
}

/// Every `.tf` file under `dir`, parsed; with `recursive`, those of subdirectories too.
fn parse_tf_files(dir: &Path, recursive: bool) -> Vec<TfFile> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive && !path.ends_with(".terraform") {
                files.extend(parse_tf_files(&path, true));
            }
        } else if path.extension().is_some_and(|e| e == "tf") {
            files.push(parse_tf(&path, &std::fs::read_to_string(&path).unwrap()));
        }
    }
    files
}

fn parse_tf(path: &Path, text: &str) -> TfFile {
    let body = hcl::parse(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    TfFile {
        path: path.to_path_buf(),
        body,
    }
}

/// One snippet as a module of its own, for checking the checks.
fn snippet(text: &str) -> Vec<TfFile> {
    vec![parse_tf(Path::new("snippet.tf"), text)]
}

fn text(expr: &Expression) -> String {
    hcl::format::to_string(expr).expect("an expression formats")
}

/// An object key as written: an identifier, or a string's contents.
fn key_name(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Expression(e) => literal(e).unwrap_or_else(|| text(e)),
        other => hcl::format::to_string(other).expect("a key formats"),
    }
}

fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|attribute| attribute.key() == key)
        .map(|attribute| attribute.expr())
}

fn attribute_text(body: &Body, key: &str) -> Option<String> {
    attribute(body, key).map(text)
}

fn labels(block: &Block) -> Vec<&str> {
    block.labels().iter().map(|label| label.as_str()).collect()
}

/// The top-level blocks of one kind (`resource`, `variable`, ...) in these files.
fn top_level<'a>(files: &'a [TfFile], kind: &str) -> Vec<(&'a TfFile, &'a Block)> {
    files
        .iter()
        .flat_map(|file| {
            file.body
                .blocks()
                .filter(move |block| block.identifier() == kind)
                .map(move |block| (file, block))
        })
        .collect()
}

/// `resource "TYPE" "NAME"` blocks by (type, name).
fn resources(files: &[TfFile]) -> BTreeMap<(String, String), &Block> {
    top_level(files, "resource")
        .into_iter()
        .map(|(_, block)| {
            let labels = labels(block);
            ((labels[0].to_string(), labels[1].to_string()), block)
        })
        .collect()
}

fn resources_of<'a>(files: &'a [TfFile], kind: &str) -> Vec<(String, &'a Block)> {
    top_level(files, "resource")
        .into_iter()
        .filter(|(_, block)| labels(block)[0] == kind)
        .map(|(_, block)| (labels(block)[1].to_string(), block))
        .collect()
}

/// A plain string: a literal, or a quoted template without interpolation.
fn literal(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(template) => {
            let text = template.to_string();
            (!text.contains("${") && !text.contains("%{")).then_some(text)
        }
        _ => None,
    }
}

/// Calls `visit` on `expr` and every expression inside it.
fn walk<'a>(expr: &'a Expression, visit: &mut dyn FnMut(&'a Expression)) {
    visit(expr);
    match expr {
        Expression::Array(items) => items.iter().for_each(|e| walk(e, visit)),
        Expression::Object(object) => {
            for (key, value) in object.iter() {
                if let ObjectKey::Expression(key) = key {
                    walk(key, visit);
                }
                walk(value, visit);
            }
        }
        Expression::FuncCall(call) => call.args.iter().for_each(|e| walk(e, visit)),
        Expression::Parenthesis(inner) => walk(inner, visit),
        Expression::Conditional(c) => {
            walk(&c.cond_expr, visit);
            walk(&c.true_expr, visit);
            walk(&c.false_expr, visit);
        }
        Expression::Operation(operation) => match operation.as_ref() {
            hcl::expr::Operation::Unary(op) => walk(&op.expr, visit),
            hcl::expr::Operation::Binary(op) => {
                walk(&op.lhs_expr, visit);
                walk(&op.rhs_expr, visit);
            }
        },
        Expression::ForExpr(f) => {
            walk(&f.collection_expr, visit);
            if let Some(key) = &f.key_expr {
                walk(key, visit);
            }
            walk(&f.value_expr, visit);
            if let Some(cond) = &f.cond_expr {
                walk(cond, visit);
            }
        }
        Expression::Traversal(traversal) => {
            walk(&traversal.expr, visit);
            for operator in &traversal.operators {
                if let hcl::expr::TraversalOperator::Index(index) = operator {
                    walk(index, visit);
                }
            }
        }
        _ => {}
    }
}

/// Every attribute expression in `body` and its nested blocks.
fn body_expressions<'a>(body: &'a Body, out: &mut Vec<&'a Expression>) {
    for attribute in body.attributes() {
        out.push(attribute.expr());
    }
    for block in body.blocks() {
        body_expressions(block.body(), out);
    }
}

/// The string literals anywhere inside `expr`.
fn literals_in(expr: &Expression) -> Vec<String> {
    let mut found = Vec::new();
    walk(expr, &mut |e| found.extend(literal(e)));
    found
}

fn file_name(file: &TfFile) -> String {
    file.path
        .strip_prefix(repository_root())
        .unwrap_or(&file.path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The checks, each returning what it found wrong
// ---------------------------------------------------------------------------------------------

fn undocumented(files: &[TfFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for (kind, needs_type) in [("variable", true), ("output", false)] {
        for (file, block) in top_level(files, kind) {
            let name = labels(block)[0];
            let described = attribute(block.body(), "description")
                .and_then(literal)
                .is_some_and(|d| !d.trim().is_empty());
            if !described {
                problems.push(format!(
                    "{}: {kind} {name} has no description",
                    file_name(file)
                ));
            }
            if needs_type && attribute(block.body(), "type").is_none() {
                problems.push(format!("{}: {kind} {name} has no type", file_name(file)));
            }
        }
    }
    problems
}

/// A policy statement, from an `aws_iam_policy_document` block or from a map of statements in
/// `locals` (sid => { actions, resources }).
struct Statement<'a> {
    place: String,
    sid: Option<String>,
    actions: Option<&'a Expression>,
    resources: Option<&'a Expression>,
    /// What a dynamic statement iterates over, and what its resources come from.
    context: String,
    has_condition: bool,
    negated: bool,
}

fn statements(files: &[TfFile]) -> Vec<Statement<'_>> {
    let mut found = Vec::new();
    for (file, block) in top_level(files, "data") {
        let data = labels(block);
        if data[0] != "aws_iam_policy_document" {
            continue;
        }
        let place = format!(
            "{} data.aws_iam_policy_document.{}",
            file_name(file),
            data[1]
        );
        for inner in block.body().blocks() {
            let (body, for_each) = match (inner.identifier(), labels(inner).first()) {
                ("statement", _) => (inner.body(), String::new()),
                ("dynamic", Some(&"statement")) => {
                    let content = inner
                        .body()
                        .blocks()
                        .find(|b| b.identifier() == "content")
                        .expect("a dynamic block has content");
                    let for_each = attribute_text(inner.body(), "for_each").unwrap_or_default();
                    (content.body(), for_each)
                }
                _ => continue,
            };
            let resources = attribute(body, "resources");
            found.push(Statement {
                place: place.clone(),
                sid: attribute(body, "sid").and_then(literal),
                actions: attribute(body, "actions"),
                resources,
                context: format!("{for_each} {}", resources.map(text).unwrap_or_default()),
                has_condition: body.blocks().any(|b| b.identifier() == "condition"),
                negated: ["not_actions", "not_resources", "not_principals"]
                    .iter()
                    .any(|key| attribute(body, key).is_some()),
            });
        }
    }
    for (file, block) in top_level(files, "locals") {
        for local in block.body().attributes() {
            walk(local.expr(), &mut |expr| {
                let Expression::Object(object) = expr else {
                    return;
                };
                for (key, value) in object.iter() {
                    let Expression::Object(entry) = value else {
                        continue;
                    };
                    let field = |name: &str| {
                        entry.iter().find_map(|(k, v)| match k {
                            ObjectKey::Identifier(id) if id.as_str() == name => Some(v),
                            _ => None,
                        })
                    };
                    if field("actions").is_none() && field("resources").is_none() {
                        continue;
                    }
                    let sid = Some(key_name(key));
                    found.push(Statement {
                        place: format!("{} local.{}", file_name(file), local.key()),
                        sid,
                        actions: field("actions"),
                        resources: field("resources"),
                        context: field("resources").map(text).unwrap_or_default(),
                        has_condition: false,
                        negated: field("not_actions").is_some() || field("not_resources").is_some(),
                    });
                }
            });
        }
    }
    found
}

/// Maps of statements in `locals` (the names dynamic statements may iterate over).
fn statement_maps(files: &[TfFile]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for statement in statements(files) {
        if let Some(local) = statement.place.split(" local.").nth(1) {
            names.insert(format!("local.{local}"));
        }
    }
    names
}

fn policy_problems(files: &[TfFile]) -> Vec<String> {
    let mut problems = Vec::new();
    let maps = statement_maps(files);
    for statement in statements(files) {
        let name = format!(
            "{} statement {}",
            statement.place,
            statement.sid.as_deref().unwrap_or("(no sid)")
        );
        if statement.negated {
            problems.push(format!(
                "{name}: NotAction/NotResource/NotPrincipal grants by exclusion"
            ));
        }
        let Some(sid) = &statement.sid else {
            // A dynamic statement generated from a map of statements, which is checked entry by
            // entry as its own statements.
            let from_map = maps
                .iter()
                .any(|map| statement.context.contains(map.as_str()));
            if !from_map {
                problems.push(format!("{name}: a statement needs a literal sid"));
            }
            continue;
        };
        let actions = statement.actions.map(literals_in).unwrap_or_default();
        if statement.actions.is_none() {
            problems.push(format!("{name}: no actions"));
        }
        for action in &actions {
            if action.contains('*') {
                problems.push(format!("{name}: wildcard action {action}"));
            }
        }
        match statement.resources {
            None if actions == ["sts:AssumeRole"] => {}
            None => problems.push(format!("{name}: no resources (that means every resource)")),
            Some(resources) => {
                if literals_in(resources).iter().any(|r| r == "*") {
                    if !WILDCARD_RESOURCE_ALLOWED.contains(&sid.as_str()) {
                        problems.push(format!("{name}: Resource \"*\""));
                    } else if !statement.has_condition {
                        problems.push(format!("{name}: Resource \"*\" without a condition"));
                    }
                }
            }
        }
    }
    // Every policy attached anywhere is one of the documents checked above.
    let policy_source =
        Regex::new(r#"^data\.aws_iam_policy_document\.[a-z0-9_]+(\[[^\]]+\])?\.json$"#).unwrap();
    for ((kind, name), block) in resources(files) {
        if matches!(
            kind.as_str(),
            "aws_iam_role_policy_attachment"
                | "aws_iam_policy_attachment"
                | "aws_iam_user_policy"
                | "aws_iam_group_policy"
        ) {
            problems.push(format!("{kind}.{name}: policies are inline documents only"));
        }
        if attribute(block.body(), "managed_policy_arns").is_some()
            || block
                .body()
                .blocks()
                .any(|b| b.identifier() == "inline_policy")
        {
            problems.push(format!(
                "{kind}.{name}: a role's policies are aws_iam_role_policy"
            ));
        }
        for key in ["policy", "assume_role_policy"] {
            if let Some(source) = attribute_text(block.body(), key)
                && !policy_source.is_match(&source)
            {
                problems.push(format!(
                    "{kind}.{name}: {key} = {source} is not an aws_iam_policy_document"
                ));
            }
        }
    }
    problems
}

/// Who may reach what: (port expression, source) pairs the module may open, the source being
/// the nodes' own security group or the `for_each` of a CIDR list.
const NODES: &str = "aws_security_group.node.id";
const ALLOWED_INGRESS: &[(&str, &str)] = &[
    ("var.peer_port", NODES),
    ("var.grpc_port", NODES),
    ("var.grpc_port", "toset(var.admin_cidrs)"),
    ("var.http_port", "toset(var.ingest_cidrs)"),
    ("22", "toset(var.ssh_cidrs)"),
];

fn ingress_problems(files: &[TfFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, block) in resources_of(files, "aws_security_group") {
        for inline in ["ingress", "egress"] {
            if block.body().blocks().any(|b| b.identifier() == inline) {
                problems.push(format!(
                    "aws_security_group.{name}: inline {inline} (use rule resources)"
                ));
            }
        }
    }
    for (name, block) in resources_of(files, "aws_vpc_security_group_ingress_rule") {
        let body = block.body();
        let rule = format!("aws_vpc_security_group_ingress_rule.{name}");
        let from = attribute_text(body, "from_port").unwrap_or_else(|| "(all)".into());
        let to = attribute_text(body, "to_port").unwrap_or_else(|| "(all)".into());
        if attribute(body, "ip_protocol").and_then(literal).as_deref() != Some("tcp") {
            problems.push(format!("{rule}: not a tcp rule"));
        }
        if from != to {
            problems.push(format!("{rule}: opens the range {from}-{to}"));
        }
        if attribute(body, "cidr_ipv6").is_some() || attribute(body, "prefix_list_id").is_some() {
            problems.push(format!(
                "{rule}: a source other than the nodes or a CIDR list"
            ));
        }
        let source = match (
            attribute_text(body, "referenced_security_group_id"),
            attribute_text(body, "cidr_ipv4"),
        ) {
            (Some(group), None) => group,
            (None, Some(cidr)) if cidr == "each.value" => {
                attribute_text(body, "for_each").unwrap_or_default()
            }
            (None, Some(cidr)) => format!("cidr {cidr}"),
            _ => "no single source".into(),
        };
        if !ALLOWED_INGRESS.contains(&(from.as_str(), source.as_str())) {
            problems.push(format!("{rule}: port {from} open to {source}"));
        }
    }
    problems
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[^.\w])(var|local|data|module|aws_[a-z0-9_]+)\.([a-z0-9_]+)(?:\.([a-z0-9_]+))?",
    )
    .unwrap()
});

/// References to variables, locals, resources, data sources and modules that no block of the
/// same directory declares.
fn undeclared_references(files: &[TfFile]) -> Vec<String> {
    let mut by_dir: BTreeMap<PathBuf, Vec<&TfFile>> = BTreeMap::new();
    for file in files {
        by_dir
            .entry(file.path.parent().unwrap().to_path_buf())
            .or_default()
            .push(file);
    }
    let mut problems = Vec::new();
    for (dir, files) in by_dir {
        let mut declared = BTreeSet::new();
        let mut expressions = Vec::new();
        for file in &files {
            for block in file.body.blocks() {
                let names = labels(block);
                match block.identifier() {
                    "variable" => {
                        declared.insert(format!("var.{}", names[0]));
                    }
                    "module" => {
                        declared.insert(format!("module.{}", names[0]));
                    }
                    "resource" => {
                        declared.insert(format!("{}.{}", names[0], names[1]));
                    }
                    "data" => {
                        declared.insert(format!("data.{}.{}", names[0], names[1]));
                    }
                    "locals" => {
                        for local in block.body().attributes() {
                            declared.insert(format!("local.{}", local.key()));
                        }
                    }
                    _ => {}
                }
                body_expressions(block.body(), &mut expressions);
            }
        }
        for expr in expressions {
            for found in REFERENCE.captures_iter(&text(expr)) {
                let reference = match &found[1] {
                    "data" => match found.get(3) {
                        Some(name) => format!("data.{}.{}", &found[2], name.as_str()),
                        None => continue,
                    },
                    prefix => format!("{prefix}.{}", &found[2]),
                };
                if !declared.contains(&reference) {
                    problems.push(format!("{}: {reference} is not declared", dir.display()));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

// ---------------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------------

#[test]
fn every_file_parses_and_every_variable_and_output_is_documented() {
    let files = parse_tf_files(&repository_root().join("deploy/terraform"), true);
    assert!(
        files.len() >= 9,
        "the module's files and its example: {}",
        files.len()
    );
    assert_eq!(undocumented(&files), Vec::<String>::new());
    assert_eq!(undeclared_references(&files), Vec::<String>::new());
}

#[test]
fn the_module_creates_what_issue_19_asks_for() {
    let files = parse_tf_files(&module_dir(), false);
    let all = resources(&files);
    let resource = |kind: &str, name: &str| {
        all.get(&(kind.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("resource {kind}.{name}"))
            .body()
    };
    let text_of = |kind: &str, name: &str, key: &str| {
        attribute_text(resource(kind, name), key)
            .unwrap_or_else(|| panic!("{kind}.{name} sets {key}"))
    };

    // Members: an auto scaling group of the launch template, N - 1 of them.
    let asg = resource("aws_autoscaling_group", "members");
    for size in ["min_size", "max_size", "desired_capacity"] {
        assert_eq!(attribute_text(asg, size).unwrap(), "local.member_count");
    }
    let template = asg
        .blocks()
        .find(|b| b.identifier() == "launch_template")
        .expect("the group launches the template");
    assert_eq!(
        attribute_text(template.body(), "id").unwrap(),
        "aws_launch_template.member.id"
    );
    assert!(
        text_of("aws_launch_template", "member", "user_data")
            .contains("local.user_data[\"member\"]")
    );
    // The seed: a fixed address, its own role.
    assert_eq!(
        text_of("aws_instance", "seed", "private_ip"),
        "var.seed_private_ip"
    );
    assert_eq!(
        text_of("aws_instance", "seed", "iam_instance_profile"),
        "aws_iam_instance_profile.seed.name"
    );
    assert!(text_of("aws_instance", "seed", "user_data").contains("local.user_data[\"seed\"]"));
    // IMDSv2 only, on both.
    let metadata = files
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "locals")
        .find_map(|b| attribute_text(b.body(), "metadata_options"))
        .expect("local.metadata_options");
    assert!(
        metadata.contains("http_tokens = \"required\""),
        "{metadata}"
    );

    // One queue, queue policy and bucket notification per declared bucket; streams on demand.
    assert_eq!(text_of("aws_sqs_queue", "s3", "for_each"), "var.s3_buckets");
    assert_eq!(
        text_of("aws_sqs_queue_policy", "s3", "for_each"),
        "var.s3_buckets"
    );
    assert_eq!(
        text_of("aws_s3_bucket_notification", "source", "for_each"),
        "var.s3_buckets"
    );
    assert_eq!(
        text_of("aws_kinesis_stream", "source", "for_each"),
        "var.kinesis_streams"
    );

    // Two roles, each with the node policy and its own bootstrap policy.
    let mut attached: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, block) in resources_of(&files, "aws_iam_role_policy") {
        let role = attribute_text(block.body(), "role").unwrap();
        let policy = attribute_text(block.body(), "policy").unwrap();
        attached.entry(role).or_default().insert(policy);
        assert!(
            name.starts_with("seed_") || name.starts_with("member_"),
            "{name}"
        );
    }
    let documents = |names: &[&str]| -> BTreeSet<String> {
        names
            .iter()
            .map(|n| format!("data.aws_iam_policy_document.{n}.json"))
            .collect()
    };
    assert_eq!(
        attached,
        BTreeMap::from([
            (
                "aws_iam_role.member.id".to_string(),
                documents(&["member_bootstrap", "node"])
            ),
            (
                "aws_iam_role.seed.id".to_string(),
                documents(&["node", "seed_bootstrap"])
            ),
        ])
    );
    for profile in ["seed", "member"] {
        assert_eq!(
            text_of("aws_iam_instance_profile", profile, "role"),
            format!("aws_iam_role.{profile}.name")
        );
    }

    // Alarms on the metrics the nodes push, and on the group and the seed.
    let alarms = resources_of(&files, "aws_cloudwatch_metric_alarm");
    let on_node_metrics: BTreeSet<String> = alarms
        .iter()
        .filter(|(_, b)| {
            attribute_text(b.body(), "namespace").as_deref() == Some("var.metrics_namespace")
        })
        .map(|(_, b)| {
            attribute(b.body(), "metric_name")
                .and_then(literal)
                .unwrap()
        })
        .collect();
    assert_eq!(on_node_metrics, pushed_metric_names());
    let namespaces: BTreeSet<String> = alarms
        .iter()
        .filter_map(|(_, b)| attribute(b.body(), "namespace").and_then(literal))
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["AWS/AutoScaling".into(), "AWS/EC2".into()])
    );
}

#[test]
fn security_groups_open_grpc_only_to_the_nodes_and_the_admins() {
    let files = parse_tf_files(&module_dir(), false);
    assert_eq!(ingress_problems(&files), Vec::<String>::new());
    // And the nodes can reach each other on both gRPC listeners.
    let opened: BTreeSet<(String, String)> =
        resources_of(&files, "aws_vpc_security_group_ingress_rule")
            .into_iter()
            .filter_map(|(_, b)| {
                Some((
                    attribute_text(b.body(), "from_port")?,
                    attribute_text(b.body(), "referenced_security_group_id")?,
                ))
            })
            .collect();
    assert!(opened.contains(&("var.peer_port".into(), NODES.into())));
    assert!(opened.contains(&("var.grpc_port".into(), NODES.into())));
}

#[test]
fn iam_statements_name_their_resources() {
    let files = parse_tf_files(&module_dir(), false);
    assert_eq!(policy_problems(&files), Vec::<String>::new());
    // Each allowed wildcard is documented, with its reason, in the README.
    let readme = std::fs::read_to_string(module_dir().join("README.md")).unwrap();
    for sid in WILDCARD_RESOURCE_ALLOWED {
        assert!(
            readme.contains(&format!("`{sid}`")),
            "README documents {sid}"
        );
    }
}

/// The least privilege the module grants, statement by statement: its actions, and a fragment
/// its resources (or the variable it is made from) must show. A new grant changes this table.
const GRANTS: &[(&str, &[&str], &str)] = &[
    ("Ec2AssumesRole", &["sts:AssumeRole"], ""),
    (
        "ReadKinesis",
        &[
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
        ],
        "local.kinesis_stream_arns",
    ),
    (
        "RegisterFanOutConsumer",
        &["kinesis:RegisterStreamConsumer"],
        "local.kinesis_stream_arns",
    ),
    (
        "ReadThroughFanOutConsumer",
        &["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"],
        "/consumer/${var.kinesis_fan_out_consumer}:*",
    ),
    (
        "ReadS3Queues",
        &[
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:ReceiveMessage",
        ],
        "aws_sqs_queue.s3",
    ),
    (
        "ReadNotifiedObjects",
        &["s3:GetObject"],
        "local.s3_source_object_arns",
    ),
    (
        "ReadThreatIntel",
        &["dynamodb:BatchGetItem"],
        "var.threat_intel_table_arns",
    ),
    (
        "ReadLookupTablesDynamoDB",
        &["dynamodb:Scan"],
        "var.lookup_table_dynamodb_arns",
    ),
    (
        "ReadLookupTablesS3",
        &["s3:GetObject"],
        "var.lookup_table_s3_object_arns",
    ),
    (
        "DecryptSources",
        &["kms:Decrypt"],
        "var.source_kms_key_arns",
    ),
    (
        "SealOutputSecrets",
        &["kms:Decrypt", "kms:Encrypt"],
        "var.secrets_kms_key_arn",
    ),
    ("PublishSns", &["sns:Publish"], "var.output_sns_topic_arns"),
    (
        "SendSqs",
        &["sqs:GetQueueUrl", "sqs:SendMessage"],
        "var.output_sqs_queue_arns",
    ),
    (
        "PutFirehose",
        &["firehose:PutRecord"],
        "var.output_firehose_stream_arns",
    ),
    (
        "InvokeLambda",
        &["lambda:InvokeFunction"],
        "var.output_lambda_function_arns",
    ),
    (
        "PutS3Objects",
        &["s3:PutObject"],
        "var.output_s3_bucket_arns",
    ),
    (
        "DownloadPackage",
        &["s3:GetObject"],
        "local.package_object_arn",
    ),
    ("ReadMetricsToken", &["ssm:GetParameter"], "/metrics-token"),
    ("PutMetrics", &["cloudwatch:PutMetricData"], "\"*\""),
    ("DecryptParameters", &["kms:Decrypt"], "var.ssm_kms_key_arn"),
    ("ReadClusterCa", &["ssm:GetParameter"], "/ca-key"),
    (
        "RecordBootstrap",
        &["ssm:GetParameter", "ssm:PutParameter"],
        "aws_ssm_parameter.seed_state.arn",
    ),
    ("ReadJoinToken", &["ssm:GetParameter"], "/join-token"),
    (
        "BucketSendsEvents",
        &["sqs:SendMessage"],
        "aws_sqs_queue.s3[each.key].arn",
    ),
];

#[test]
fn every_grant_is_one_of_the_least_privilege_table() {
    let files = parse_tf_files(&module_dir(), false);
    let mut seen = BTreeSet::new();
    for statement in statements(&files) {
        let Some(sid) = statement.sid.clone() else {
            continue;
        };
        let (_, actions, fragment) = GRANTS
            .iter()
            .find(|(s, _, _)| *s == sid)
            .unwrap_or_else(|| panic!("{} statement {sid} is not in GRANTS", statement.place));
        let mut granted = statement.actions.map(literals_in).unwrap_or_default();
        granted.sort();
        assert_eq!(granted, actions.to_vec(), "{sid}'s actions");
        assert!(
            statement.context.contains(fragment),
            "{sid}'s resources {:?} show {fragment}",
            statement.context
        );
        seen.insert(sid);
    }
    let table: BTreeSet<String> = GRANTS.iter().map(|(s, _, _)| s.to_string()).collect();
    assert_eq!(seen, table, "every row of GRANTS is in the module");
    // The CA key is the seed's alone, the join token the members'.
    for (secret, document) in [
        ("/ca-key", "seed_bootstrap"),
        ("/join-token", "member_bootstrap"),
    ] {
        let holders: BTreeSet<String> = statements(&files)
            .iter()
            .filter(|s| s.context.contains(secret))
            .map(|s| s.place.rsplit('.').next().unwrap().to_string())
            .collect();
        assert_eq!(
            holders,
            BTreeSet::from([document.to_string()]),
            "who reads {secret}"
        );
    }
}

/// `svc:OperationName` -> `operation_name`.
fn snake_case(operation: &str) -> String {
    let mut out = String::new();
    for (i, c) in operation.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rust_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            // Tests and benches make calls the node never does (moto setup), and vendor is not ours.
            if !["tests", "benches", "vendor", "fuzz", "target"].contains(&name.as_ref()) {
                rust_sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_granted_action_is_a_call_sa_makes() {
    let mut sources = String::new();
    rust_sources(&repository_root().join("node"), &mut sources);
    let script = std::fs::read_to_string(module_dir().join("user_data.sh.tftpl")).unwrap();
    for (sid, actions, _) in GRANTS {
        for action in *actions {
            let (service, operation) = action.split_once(':').unwrap();
            let made = match *action {
                // EC2 assumes the role; S3 sends to the queue (a resource policy).
                "sts:AssumeRole" => true,
                _ if *sid == "BucketSendsEvents" => true,
                // The SDK names Invoke what IAM calls InvokeFunction.
                "lambda:InvokeFunction" => sources.contains(".invoke()"),
                _ => {
                    let snake = snake_case(operation);
                    sources.contains(&format!(".{snake}()"))
                        || script.contains(&format!("aws {service} {}", snake.replace('_', "-")))
                }
            };
            assert!(
                made,
                "{sid} grants {action}, which neither node/ nor the user data calls"
            );
        }
    }
}

/// What the user data's pusher sends to CloudWatch: `MetricName=X` in its script.
fn pushed_metric_names() -> BTreeSet<String> {
    let script = std::fs::read_to_string(module_dir().join("user_data.sh.tftpl")).unwrap();
    Regex::new(r"MetricName=([A-Za-z]+)")
        .unwrap()
        .captures_iter(&script)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn the_template_gets_exactly_the_arguments_it_uses() {
    let files = parse_tf_files(&module_dir(), false);
    let mut arguments = None;
    for file in &files {
        let mut expressions = Vec::new();
        body_expressions(&file.body, &mut expressions);
        for expr in expressions {
            walk(expr, &mut |e| {
                if let Expression::FuncCall(call) = e
                    && call.name.name.as_str() == "templatefile"
                    && text(&call.args[0]).contains("user_data.sh.tftpl")
                    && let Expression::Object(object) = &call.args[1]
                {
                    let keys: BTreeSet<String> =
                        object.iter().map(|(key, _)| key_name(key)).collect();
                    arguments = Some(keys);
                }
            });
        }
    }
    let arguments = arguments.expect("main.tf renders user_data.sh.tftpl with templatefile");
    let template = std::fs::read_to_string(module_dir().join("user_data.sh.tftpl")).unwrap();
    let loop_vars: BTreeSet<String> =
        Regex::new(r"%\{~?\s*for\s+(\w+)\s*(?:,\s*(\w+)\s*)?in\s+(\w+)")
            .unwrap()
            .captures_iter(&template)
            .flat_map(|c| [c.get(1), c.get(2)])
            .flatten()
            .map(|m| m.as_str().to_string())
            .collect();
    let mut used: BTreeSet<String> = Regex::new(r"(?:^|[^$])\$\{\s*(\w+)")
        .unwrap()
        .captures_iter(&template)
        .map(|c| c[1].to_string())
        .filter(|name| !loop_vars.contains(name))
        .collect();
    used.extend(
        Regex::new(r"%\{~?\s*for\s+[\w\s,]+in\s+(\w+)")
            .unwrap()
            .captures_iter(&template)
            .map(|c| c[1].to_string()),
    );
    assert_eq!(used, arguments);
}

// ---------------------------------------------------------------------------------------------
// The checks catch what they guard against
// ---------------------------------------------------------------------------------------------

#[test]
fn the_checks_catch_wildcards_open_ports_and_undocumented_variables() {
    let bad = snippet(
        r#"
variable "undocumented" {}

locals {
  grants = {
    Everything = { actions = ["s3:GetObject"], resources = ["*"] }
  }
}

data "aws_iam_policy_document" "bad" {
  statement {
    sid       = "Broad"
    actions   = ["s3:*"]
    resources = ["*"]
  }
  statement {
    sid     = "Unbounded"
    actions = ["sqs:SendMessage"]
  }
  statement {
    sid       = "PutMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = var.things
    content {
      actions   = statement.value
      resources = ["arn:aws:s3:::b/*"]
    }
  }
}

resource "aws_iam_role_policy" "raw" {
  role   = aws_iam_role.r.id
  policy = jsonencode({ Statement = [{ Action = "*", Resource = "*" }] })
}

resource "aws_iam_role_policy_attachment" "managed" {
  role       = aws_iam_role.r.name
  policy_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
}

resource "aws_security_group" "node" {
  ingress {
    from_port = 0
  }
}

resource "aws_vpc_security_group_ingress_rule" "peer_to_world" {
  security_group_id = aws_security_group.node.id
  ip_protocol       = "tcp"
  from_port         = var.peer_port
  to_port           = var.peer_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "grpc_range" {
  security_group_id            = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = var.grpc_port
  to_port                      = var.peer_port
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_ingress_rule" "http_to_admins" {
  for_each          = toset(var.admin_cidrs)
  security_group_id = aws_security_group.node.id
  ip_protocol       = "tcp"
  from_port         = var.http_port
  to_port           = var.http_port
  cidr_ipv4         = each.value
}

output "x" {
  value = local.missing
}
"#,
    );
    let policies = policy_problems(&bad).join("\n");
    for expected in [
        "local.grants statement Everything: Resource \"*\"",
        "statement Broad: wildcard action s3:*",
        "statement Broad: Resource \"*\"",
        "statement Unbounded: no resources",
        "statement PutMetrics: Resource \"*\" without a condition",
        "(no sid): a statement needs a literal sid",
        "aws_iam_role_policy.raw: policy = jsonencode",
        "aws_iam_role_policy_attachment.managed: policies are inline documents only",
    ] {
        assert!(policies.contains(expected), "{expected:?} in\n{policies}");
    }
    let ingress = ingress_problems(&bad).join("\n");
    for expected in [
        "aws_security_group.node: inline ingress",
        "peer_to_world: port var.peer_port open to cidr \"0.0.0.0/0\"",
        "grpc_range: opens the range var.grpc_port-var.peer_port",
        "http_to_admins: port var.http_port open to toset(var.admin_cidrs)",
    ] {
        assert!(ingress.contains(expected), "{expected:?} in\n{ingress}");
    }
    let documentation = undocumented(&bad).join("\n");
    assert!(documentation.contains("variable undocumented has no description"));
    assert!(documentation.contains("variable undocumented has no type"));
    assert!(documentation.contains("output x has no description"));
    let references = undeclared_references(&bad).join("\n");
    for missing in ["local.missing", "var.peer_port", "aws_iam_role.r"] {
        assert!(
            references.contains(&format!("{missing} is not declared")),
            "{missing} in\n{references}"
        );
    }

    // And a statement allowed its wildcard, with its condition, passes.
    let good = snippet(
        r#"
data "aws_iam_policy_document" "good" {
  statement {
    sid       = "PutMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["sa"]
    }
  }
}
"#,
    );
    assert_eq!(policy_problems(&good), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// The metrics pusher against a real node
// ---------------------------------------------------------------------------------------------

/// The pusher script the user data installs, as it is in the template (it holds no
/// interpolation, so the template's text is the rendered text).
fn pusher_script() -> String {
    let template = std::fs::read_to_string(module_dir().join("user_data.sh.tftpl")).unwrap();
    let start = template.find("<<'SCRIPT'\n").expect("the pusher's heredoc") + "<<'SCRIPT'\n".len();
    let end = start + template[start..].find("\nSCRIPT\n").expect("its end");
    let script = &template[start..end];
    assert!(!script.contains("${") && !script.contains("%{"), "{script}");
    script.to_string()
}

/// Runs the pusher with `aws` replaced by a script that answers the token parameter with
/// `token` and records what would go to CloudWatch; returns the outcome and that record.
fn run_pusher(node: &NodeProcess, token: &str, dir: &Path) -> (Output, String) {
    let certs = node.certs_dir.clone().unwrap();
    let conf = dir.join("cloudwatch-metrics.conf");
    std::fs::write(
        &conf,
        format!(
            "REGION=us-east-1\nNAMESPACE=sa\nCLUSTER=test\nTOKEN_PARAMETER=/sa/test/metrics-token\n\
             CA={}\nURL=https://{}/metrics\n",
            certs.join("ca.crt").display(),
            node.http_addr
        ),
    )
    .unwrap();
    let script = pusher_script().replace("/etc/sa/cloudwatch-metrics.conf", conf.to_str().unwrap());
    std::fs::write(dir.join("pusher"), script).unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("put-metric-data");
    let _ = std::fs::remove_file(&record);
    std::fs::write(dir.join("token"), token).unwrap();
    std::fs::write(
        bin.join("aws"),
        format!(
            "#!/bin/bash\ncase \"$1 $2\" in\n\
             'ssm get-parameter') cat '{}' ;;\n\
             'cloudwatch put-metric-data') printf '%s\\n' \"$@\" > '{}' ;;\n\
             *) echo \"unexpected aws $*\" >&2; exit 2 ;;\nesac\n",
            dir.join("token").display(),
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("aws"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new("bash")
        .arg(dir.join("pusher"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("bash runs");
    (output, std::fs::read_to_string(&record).unwrap_or_default())
}

#[test]
fn the_metrics_pusher_reads_a_real_node_with_a_viewer_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&NodeOptions::new(
        workspace_binary("sanode").unwrap(),
        dir.path().join("node"),
    ))
    .unwrap();
    let sactl = workspace_binary("sactl").unwrap();
    let created = node.sactl(
        &sactl,
        &["tokens", "create", "--role", "viewer", "--ttl", "1h"],
    );
    assert!(created.status.success(), "{created:?}");
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();

    let (output, pushed) = run_pusher(&node, &token, dir.path());
    assert!(output.status.success(), "{output:?}\n{}", node.log());
    let lines: Vec<&str> = pushed.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "cloudwatch",
            "put-metric-data",
            "--region",
            "us-east-1",
            "--namespace",
            "sa",
            "--metric-data"
        ]
    );
    // A single node leads; its certificate has about two years left.
    assert_eq!(
        lines[7],
        "MetricName=RaftIsLeader,Value=1,Unit=Count,Dimensions=[{Name=ClusterName,Value=test}]"
    );
    let expiry = lines[8]
        .strip_prefix("MetricName=TlsCertExpirySeconds,Value=")
        .and_then(|rest| {
            rest.strip_suffix(",Unit=Seconds,Dimensions=[{Name=ClusterName,Value=test}]")
        })
        .unwrap_or_else(|| panic!("{}", lines[8]));
    let seconds: f64 = expiry.parse().unwrap();
    assert!(
        seconds > 700.0 * 86400.0 && seconds <= 730.0 * 86400.0,
        "{seconds}"
    );
    let names: BTreeSet<String> = lines[7..]
        .iter()
        .map(|l| {
            l.split(',')
                .next()
                .unwrap()
                .trim_start_matches("MetricName=")
                .to_string()
        })
        .collect();
    assert_eq!(names, pushed_metric_names());

    // A token the cluster never issued gets nothing to push, and the pusher fails.
    let (output, pushed) = run_pusher(&node, "sat1.forged.forged", dir.path());
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(pushed, "");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("401"),
        "{output:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// With terraform on the machine
// ---------------------------------------------------------------------------------------------

/// `terraform` from `$SA_TERRAFORM` or PATH; `None`, said on stderr, where it is not.
fn terraform(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("SA_TERRAFORM")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("terraform"))
                .find(|path| path.is_file())
        });
    if found.is_none() {
        eprintln!(
            "{test}: NOT RUN: terraform is not on PATH (nor $SA_TERRAFORM); it cannot be installed \
             from crates.io, PyPI, Debian or npm (deploy/terraform/aws/README.md)"
        );
    }
    found
}

/// A directory holding the AWS provider (`registry.terraform.io/hashicorp/aws/...`), from
/// `$SA_TERRAFORM_PLUGIN_DIR` or /opt/tf-plugins; terraform cannot download it here.
fn provider_mirror(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SA_TERRAFORM_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/tf-plugins"));
    if dir.join("registry.terraform.io/hashicorp/aws").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "{test}: NOT RUN: no AWS provider in {} (set SA_TERRAFORM_PLUGIN_DIR to a \
             filesystem mirror)",
            dir.display()
        );
        None
    }
}

/// terraform with a CLI configuration of its own: installing providers from `mirror` only.
fn terraform_command(
    terraform: &Path,
    dir: &Path,
    mirror: Option<&Path>,
    scratch: &Path,
) -> Command {
    let config = scratch.join("terraformrc");
    let installation = match mirror {
        Some(mirror) => format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            mirror.display()
        ),
        None => String::new(),
    };
    std::fs::write(&config, installation).unwrap();
    let mut command = Command::new(terraform);
    command
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", &config)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("TF_LOG");
    command
}

fn succeeded(mut command: Command) -> String {
    let output = command.output().expect("terraform runs");
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A copy of deploy/terraform/aws, so that `terraform init` leaves nothing in the repository.
fn module_copy(into: &Path) -> PathBuf {
    let copy = into.join("aws");
    sa_chaos_tests::copy_tree(&module_dir(), &copy).unwrap();
    copy
}

#[test]
fn terraform_fmt_finds_nothing_to_change() {
    let Some(terraform) = terraform("terraform_fmt_finds_nothing_to_change") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut fmt = terraform_command(&terraform, &repository_root(), None, scratch.path());
    fmt.args(["fmt", "-check", "-recursive", "-diff", "deploy/terraform"]);
    succeeded(fmt);
}

#[test]
fn terraform_validates_the_example_and_renders_user_data_bash_accepts() {
    let test = "terraform_validates_the_example_and_renders_user_data_bash_accepts";
    let Some(terraform) = terraform(test) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    if let Some(mirror) = provider_mirror(test) {
        let example = module_copy(scratch.path()).join("examples/three-nodes");
        let mut init = terraform_command(&terraform, &example, Some(&mirror), scratch.path());
        init.args(["init", "-backend=false", "-input=false", "-no-color"]);
        succeeded(init);
        let mut validate = terraform_command(&terraform, &example, Some(&mirror), scratch.path());
        validate.args(["validate", "-no-color"]);
        assert!(succeeded(validate).contains("The configuration is valid"));
    }

    // The user data as templatefile renders it (terraform console needs no provider).
    for role in ["seed", "member"] {
        let expression = format!(
            r#"base64encode(templatefile("{}", {{
  role = "{role}", cluster = "test", region = "eu-west-1", parameter_prefix = "/sa/test",
  seed_ip = "10.0.1.10", grpc_port = 7710, http_port = 7780, peer_port = 7711,
  package_url = "s3://packages/sa_0.1.0_amd64.deb", package_sha256 = "{}",
  seed_volume_id = "{}", metrics_namespace = "sa",
  sanode_env = {{ AWS_REGION = "eu-west-1", SA_S3_QUEUES = "https://sqs.eu-west-1.amazonaws.com/1/q" }}
}}))"#,
            module_dir().join("user_data.sh.tftpl").display(),
            "0".repeat(64),
            if role == "seed" {
                "vol-0123456789abcdef0"
            } else {
                ""
            },
        );
        // The console reads one expression per line.
        let input = scratch.path().join(format!("{role}.expr"));
        std::fs::write(&input, expression.replace('\n', " ")).unwrap();
        let mut console = terraform_command(&terraform, scratch.path(), None, scratch.path());
        console
            .arg("console")
            .stdin(std::fs::File::open(&input).unwrap());
        let printed: String =
            serde_json::from_str(succeeded(console).trim()).expect("console prints a string");
        let rendered = String::from_utf8(BASE64.decode(printed).unwrap()).unwrap();
        assert!(rendered.starts_with("#!/bin/bash\n"), "{rendered}");
        assert!(rendered.contains("ROLE='{role}'".replace("{role}", role).as_str()));
        assert!(rendered.contains("echo 'SA_S3_QUEUES=https://sqs.eu-west-1.amazonaws.com/1/q'"));
        assert!(
            rendered.contains("${SEED_VOLUME_ID//-/}"),
            "$${{ is unescaped to ${{"
        );
        assert!(
            rendered.len() < 16 * 1024,
            "EC2 user data is at most 16 KB: {}",
            rendered.len()
        );
        let script = scratch.path().join(format!("{role}.sh"));
        std::fs::write(&script, &rendered).unwrap();
        let syntax = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(syntax.status.success(), "bash -n {role}: {syntax:?}");
        match Command::new("shellcheck")
            .args(["-s", "bash"])
            .arg(&script)
            .output()
        {
            Ok(lint) => assert!(
                lint.status.success(),
                "shellcheck {role}: {}",
                String::from_utf8_lossy(&lint.stdout)
            ),
            Err(_) => {
                eprintln!("{test}: shellcheck NOT RUN: not on PATH (apt-get install shellcheck)")
            }
        }
    }
}

const MOTO_ROOT: &str = r#"
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {
    autoscaling = "MOTO"
    cloudwatch  = "MOTO"
    ec2         = "MOTO"
    iam         = "MOTO"
    kinesis     = "MOTO"
    s3          = "MOTO"
    sns         = "MOTO"
    sqs         = "MOTO"
    ssm         = "MOTO"
    sts         = "MOTO"
  }
}

resource "aws_vpc" "test" {
  cidr_block = "10.20.0.0/16"
}

resource "aws_subnet" "a" {
  vpc_id            = aws_vpc.test.id
  cidr_block        = "10.20.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_subnet" "b" {
  vpc_id            = aws_vpc.test.id
  cidr_block        = "10.20.2.0/24"
  availability_zone = "us-east-1b"
}

resource "aws_s3_bucket" "logs" {
  bucket = "sa-test-cloudtrail"
}

resource "aws_sns_topic" "alerts" {
  name = "sa-test-alerts"
}

module "sa" {
  source                = "./aws"
  name                  = "test"
  node_count            = 3
  vpc_id                = aws_vpc.test.id
  subnet_ids            = [aws_subnet.a.id, aws_subnet.b.id]
  seed_private_ip       = "10.20.1.10"
  admin_cidrs           = ["192.0.2.0/24"]
  ami_id                = "ami-03cf127a"
  package_url           = "s3://sa-packages/sa_0.1.0_amd64.deb"
  package_sha256        = "0000000000000000000000000000000000000000000000000000000000000000"
  kinesis_streams       = { "test-logs" = { shard_count = 1 } }
  s3_buckets            = { (aws_s3_bucket.logs.bucket) = { filter_prefix = "AWSLogs/" } }
  output_sns_topic_arns = [aws_sns_topic.alerts.arn]
  alarm_actions         = [aws_sns_topic.alerts.arn]
}
"#;

/// Every resource in `terraform show -json`'s state, by address.
fn state_resources(state: &Value) -> BTreeMap<String, Value> {
    fn collect(module: &Value, out: &mut BTreeMap<String, Value>) {
        for resource in module["resources"].as_array().into_iter().flatten() {
            out.insert(
                resource["address"].as_str().unwrap().to_string(),
                resource["values"].clone(),
            );
        }
        for child in module["child_modules"].as_array().into_iter().flatten() {
            collect(child, out);
        }
    }
    let mut out = BTreeMap::new();
    collect(&state["values"]["root_module"], &mut out);
    out
}

#[test]
fn terraform_applies_the_module_against_moto() {
    let test = "terraform_applies_the_module_against_moto";
    let (Some(terraform), Some(mirror)) = (terraform(test), provider_mirror(test)) else {
        return;
    };
    let moto = MotoServer::start().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    module_copy(scratch.path());
    std::fs::write(
        scratch.path().join("main.tf"),
        MOTO_ROOT.replace("MOTO", &moto.endpoint()),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut command =
            terraform_command(&terraform, scratch.path(), Some(&mirror), scratch.path());
        command.args(args);
        succeeded(command)
    };
    run(&["init", "-backend=false", "-input=false", "-no-color"]);
    run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let state: Value = serde_json::from_str(&run(&["show", "-json", "-no-color"])).unwrap();
    let resources = state_resources(&state);
    let get = |address: &str| {
        resources
            .get(address)
            .unwrap_or_else(|| panic!("{address} in {:?}", resources.keys().collect::<Vec<_>>()))
    };

    // The policies as AWS got them: named resources, "*" only where allowed.
    let mut sids: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (role, policy) in [
        ("seed", "seed_node"),
        ("seed", "seed_bootstrap"),
        ("member", "member_node"),
        ("member", "member_bootstrap"),
    ] {
        let document: Value = serde_json::from_str(
            get(&format!("module.sa.aws_iam_role_policy.{policy}"))["policy"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        for statement in document["Statement"].as_array().unwrap() {
            let sid = statement["Sid"].as_str().unwrap().to_string();
            let resources: Vec<&str> = match &statement["Resource"] {
                Value::String(one) => vec![one.as_str()],
                many => many
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect(),
            };
            if resources.contains(&"*") {
                assert!(
                    WILDCARD_RESOURCE_ALLOWED.contains(&sid.as_str()),
                    "{policy}: {statement}"
                );
                assert!(statement["Condition"].is_object(), "{policy}: {statement}");
            }
            sids.entry(role).or_default().insert(sid);
        }
    }
    let expected_node: BTreeSet<String> = [
        "DownloadPackage",
        "PublishSns",
        "ReadKinesis",
        "ReadNotifiedObjects",
        "ReadS3Queues",
        "ReadMetricsToken",
        "PutMetrics",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let with = |extra: &[&str]| -> BTreeSet<String> {
        expected_node
            .iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    assert_eq!(sids["seed"], with(&["ReadClusterCa", "RecordBootstrap"]));
    assert_eq!(sids["member"], with(&["ReadJoinToken"]));

    // Two members; the queue notified by the bucket and named in the members' flags.
    let group = get("module.sa.aws_autoscaling_group.members");
    for size in ["min_size", "max_size", "desired_capacity"] {
        assert_eq!(group[size], 2, "{size}");
    }
    let queue = get("module.sa.aws_sqs_queue.s3[\"sa-test-cloudtrail\"]");
    let notification = get("module.sa.aws_s3_bucket_notification.source[\"sa-test-cloudtrail\"]");
    assert_eq!(notification["queue"][0]["queue_arn"], queue["arn"]);
    assert_eq!(notification["queue"][0]["filter_prefix"], "AWSLogs/");
    let user_data = get("module.sa.aws_launch_template.member")["user_data"]
        .as_str()
        .unwrap();
    let user_data = String::from_utf8(BASE64.decode(user_data).unwrap()).unwrap();
    assert!(
        user_data.contains(&format!(
            "echo 'SA_S3_QUEUES={}'",
            queue["url"].as_str().unwrap()
        )),
        "{user_data}"
    );
    assert!(user_data.contains("ROLE='member'") && user_data.contains("SEED_IP='10.20.1.10'"));

    // gRPC from the nodes and the admin CIDR, peers from the nodes, HTTP from nobody.
    let mut ingress: Vec<(i64, String)> = resources
        .iter()
        .filter(|(address, _)| {
            address.starts_with("module.sa.aws_vpc_security_group_ingress_rule.")
        })
        .map(|(_, rule)| {
            let source = rule["cidr_ipv4"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    assert_eq!(
                        rule["referenced_security_group_id"],
                        rule["security_group_id"]
                    );
                    "nodes".into()
                });
            (rule["from_port"].as_i64().unwrap(), source)
        })
        .collect();
    ingress.sort();
    assert_eq!(
        ingress,
        [
            (7710, "192.0.2.0/24".into()),
            (7710, "nodes".into()),
            (7711, "nodes".into())
        ]
    );
    let alarms = resources
        .keys()
        .filter(|address| address.starts_with("module.sa.aws_cloudwatch_metric_alarm."))
        .count();
    assert_eq!(alarms, 4);
}
