//! Every HTTP output against a real local receiver: the exact request of docs/spec §12.6
//! (method, path, headers, body), and how the receiver's answers map to outcomes.

use std::time::{Duration, SystemTime};

use base64::Engine;
use sa_chaos_tests::{HttpReceiver, ReceivedRequest, Reply};
use sa_outputs::{DeliveryOutcome, webhook_signature};
use serde_json::{Value, json};

use crate::common::{ALERT_ID, alert, credentials, deliver, outputs};
use crate::outcome::{assert_delivered, assert_failed, assert_misconfigured, assert_retry};

fn receiver() -> HttpReceiver {
    HttpReceiver::start().expect("receiver starts")
}

/// Delivers `publication` of the sample alert to `output`, the one output configured, with
/// these credentials.
async fn deliver_to(output: &str, publication: &Value, creds: Value) -> DeliveryOutcome {
    let outputs = outputs(&[(output, None)]);
    deliver(&outputs, output, &alert(), publication, &credentials(creds)).await
}

/// A Carbon Black server that knows the binary `md5` and answers a look-up of its ban with
/// `ban`.
fn carbonblack_knowing(md5: &str, ban: Reply) -> HttpReceiver {
    let rx = receiver();
    rx.route(
        "GET",
        &format!("/api/v1/binary/{md5}/summary"),
        Reply::json(200, &json!({"md5": md5})),
    );
    rx.route("GET", &format!("/api/v1/banning/blacklist/{md5}"), ban);
    rx
}

/// A Jira server that lets user "sa" log in (session JSESSIONID=s3).
fn jira_with_login() -> HttpReceiver {
    let rx = receiver();
    rx.route(
        "POST",
        "/rest/auth/1/session",
        Reply::json(
            200,
            &json!({"session": {"name": "JSESSIONID", "value": "s3"}}),
        ),
    );
    rx
}

/// A Phantom server that answers the rule's container search with `containers` and takes
/// artifacts (id 70).
fn phantom_finding(containers: Reply) -> HttpReceiver {
    let rx = receiver();
    rx.route("GET", "/rest/container", containers);
    rx.route(
        "POST",
        "/rest/artifact",
        Reply::json(200, &json!({"id": 70})),
    );
    rx
}

fn phantom_credentials(rx: &HttpReceiver) -> Value {
    json!({"ph_auth_token": "pt", "url": rx.url()})
}

fn only_request(receiver: &HttpReceiver) -> ReceivedRequest {
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests.into_iter().next().unwrap()
}

fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

#[tokio::test]
async fn slack_renders_the_record_as_attachments() {
    let rx = receiver();
    let creds = json!({"url": format!("{}/services/T0/B0/secret", rx.url())});
    assert_delivered(&deliver_to("slack:security", &alert(), creds).await);
    let request = only_request(&rx);
    assert_eq!(
        (request.method.as_str(), request.path()),
        ("POST", "/services/T0/B0/secret")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(
        body["text"],
        "*StreamAlert Rule Triggered: cloudtrail_root_account_usage*"
    );
    assert_eq!(body["mrkdwn"], true);
    let attachment = &body["attachments"][0];
    assert_eq!(body["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(
        attachment["pretext"],
        "*Rule Description:*\nRoot account used to log in\n"
    );
    assert_eq!(attachment["title"], "Record:");
    assert_eq!(attachment["color"], "#b22222");
    assert_eq!(
        attachment["text"],
        "*eventName:* ConsoleLogin\n*resources:* []\n*responseElements:*\n\t*ConsoleLogin:* Success\n\
         *sourceIPAddress:* 198.51.100.7\n*userIdentity:*\n\t*arn:* arn:aws:iam::123456789012:root\n\t*type:* Root"
    );
}

#[tokio::test]
async fn slack_lays_publisher_attachments_over_the_skeleton() {
    let rx = receiver();
    let long_text = "x".repeat(5000);
    let publication = json!({
        "@slack.text": "Rule triggered",
        "@slack.attachments": [{"title": "Root login", "text": long_text, "extra": "dropped"}],
    });
    let creds = json!({"url": rx.url()});
    assert_delivered(&deliver_to("slack:security", &publication, creds).await);
    let body = only_request(&rx).json();
    assert_eq!(body["text"], "Rule triggered");
    let attachment = body["attachments"][0].as_object().unwrap();
    let keys: Vec<&str> = attachment.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "fallback",
            "color",
            "pretext",
            "author_name",
            "author_link",
            "author_icon",
            "title",
            "title_link",
            "text",
            "fields",
            "image_url",
            "thumb_url",
            "footer",
            "footer_icon",
            "ts",
            "mrkdwn_in"
        ]
    );
    assert_eq!(attachment["title"], "Root login");
    assert_eq!(attachment["color"], "#36a64f");
    let text = attachment["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 1997 + 5 + 1997);
    assert!(text.contains(" ... "));
}

#[tokio::test]
async fn pagerduty_v1_event_and_success_needs_a_json_answer() {
    let rx = receiver();
    let outputs = outputs(&[("pagerduty:oncall", None)]);
    let alert = alert();
    let creds = credentials(
        json!({"service_key": "svc-key", "url": format!("{}/create_event.json", rx.url())}),
    );
    let publication = json!({"@pagerduty.contexts": [
        {"type": "link", "href": "https://runbook", "text": "runbook"},
        {"type": "image"},
        {"type": "image", "src": "https://graph.png"}
    ]});
    let outcome = deliver(&outputs, "pagerduty:oncall", &alert, &publication, &creds).await;
    assert_delivered(&outcome);
    let body = only_request(&rx).json();
    assert_eq!(body["service_key"], "svc-key");
    assert_eq!(body["event_type"], "trigger");
    assert_eq!(
        body["description"],
        "StreamAlert Rule Triggered - cloudtrail_root_account_usage"
    );
    assert_eq!(
        body["details"]["description"],
        "Root account used to log in"
    );
    assert_eq!(body["details"]["record"], alert["record"]);
    assert_eq!(body["client"], "streamalert");
    assert_eq!(body["incident_key"], ALERT_ID);
    assert_eq!(body["contexts"].as_array().unwrap().len(), 2);

    rx.set_default_reply(Reply::status(200));
    let outcome = deliver(&outputs, "pagerduty:oncall", &alert, &alert, &creds).await;
    assert_failed(&outcome, &[]);
}

#[tokio::test]
async fn pagerduty_v2_event_with_dedup_key_and_magic_fields() {
    let rx = receiver();
    rx.set_default_reply(Reply::json(
        202,
        &json!({"status": "success", "dedup_key": "x"}),
    ));
    let creds = json!({"routing_key": "rk", "url": format!("{}/v2/enqueue", rx.url())});
    let publication = json!({
        "@pagerduty-v2.summary": "Root login",
        "@pagerduty-v2.severity": "warning",
        "@pagerduty-v2.component": "iam",
        "@pagerduty-v2.images": [{"src": "https://i.png"}, {"href": "no-src"}],
        "@pagerduty-v2.links": [{"href": "https://runbook"}, {"text": "no-href"}],
    });
    assert_delivered(&deliver_to("pagerduty-v2:soc", &publication, creds).await);
    let request = only_request(&rx);
    assert_eq!(request.path(), "/v2/enqueue");
    assert_eq!(
        request.json(),
        json!({
            "routing_key": "rk", "event_action": "trigger", "dedup_key": format!("soc:{ALERT_ID}"),
            "payload": {"summary": "Root login", "source": "cloudtrail:events", "severity": "warning",
                        "custom_details": {"description": "Root account used to log in", "record": alert()["record"]},
                        "component": "iam", "group": null, "class": null},
            "client": "StreamAlert", "client_url": null,
            "images": [{"src": "https://i.png", "href": "", "alt": ""}],
            "links": [{"href": "https://runbook", "text": "https://runbook"}],
        })
    );
}

#[tokio::test]
async fn pagerduty_incident_follows_the_whole_sequence() {
    let rx = receiver();
    rx.route(
        "GET",
        "/users",
        Reply::json(200, &json!({"users": [{"id": "UREQ"}]})),
    );
    rx.route(
        "POST",
        "/v2/enqueue",
        Reply::json(202, &json!({"status": "success"})),
    );
    rx.route(
        "GET",
        "/incidents",
        Reply::json(200, &json!({"incidents": [{"id": "PINC"}]})),
    );
    rx.route(
        "GET",
        "/priorities",
        Reply::json(200, &json!({"priorities": [{"id": "PR1", "name": "P1"}]})),
    );
    let outputs = outputs(&[("pagerduty-incident:sox", None)])
        .with_incident_poll_interval(Duration::from_millis(10));
    let mut alert = alert();
    alert["context"] = json!({"pagerduty-incident": {
        "incident_priority": "P1", "responders": ["oncall@example.com"], "note": "see runbook",
        "with_record": false,
    }});
    let creds = credentials(json!({
        "token": "tok", "service_name": "sox", "service_id": "PSVC", "escalation_policy_id": "PESC",
        "email_from": "sa@example.com", "integration_key": "ik", "api": rx.url(),
        "events_url": format!("{}/v2/enqueue", rx.url()),
    }));
    let publication = json!({"@pagerduty-incident.urgency": "low"});
    let outcome = deliver(
        &outputs,
        "pagerduty-incident:sox",
        &alert,
        &publication,
        &creds,
    )
    .await;
    assert_delivered(&outcome);
    let requests = rx.requests();
    let steps: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path().to_string()))
        .collect();
    let expected = [
        ("GET", "/users"),
        ("POST", "/v2/enqueue"),
        ("GET", "/incidents"),
        ("GET", "/priorities"),
        ("PUT", "/incidents/PINC"),
        ("GET", "/users"),
        ("POST", "/incidents/PINC/responder_requests"),
        ("POST", "/incidents/PINC/notes"),
    ];
    assert_eq!(steps, expected.map(|(m, p)| (m.to_string(), p.to_string())));
    let user_lookup = &requests[0];
    assert_eq!(user_lookup.query(), "query=sa%40example.com");
    assert_eq!(user_lookup.header("authorization"), Some("Token token=tok"));
    assert_eq!(
        user_lookup.header("accept"),
        Some("application/vnd.pagerduty+json;version=2")
    );
    assert_eq!(user_lookup.header("from"), None);
    let event = requests[1].json();
    assert_eq!(event["routing_key"], "ik");
    assert_eq!(event["dedup_key"], format!("sox:{ALERT_ID}"));
    assert_eq!(
        event["payload"]["custom_details"],
        json!({"description": "Root account used to log in"})
    );
    assert_eq!(
        requests[2].query(),
        format!("incident_key=sox%3A{ALERT_ID}")
    );
    let update = &requests[4];
    assert_eq!(update.header("from"), Some("sa@example.com"));
    assert_eq!(
        update.json(),
        json!({"incident": {
            "type": "incident",
            "title": "StreamAlert Incident - Rule triggered: cloudtrail_root_account_usage",
            "service": {"id": "PSVC", "type": "service_reference"},
            "body": {"type": "incident_body", "details": "Root account used to log in"},
            "priority": {"id": "PR1", "type": "priority_reference"},
            "escalation_policy": {"id": "PESC", "type": "escalation_policy_reference"},
            "urgency": "low",
        }})
    );
    assert_eq!(requests[6].json()["requester_id"], "UREQ");
    assert_eq!(
        requests[7].json(),
        json!({"note": {"content": "see runbook"}})
    );
}

#[tokio::test]
async fn pagerduty_incident_fails_without_the_acting_user() {
    let rx = receiver();
    rx.route("GET", "/users", Reply::json(200, &json!({"users": []})));
    let creds = json!({
        "token": "tok", "service_id": "PSVC", "escalation_policy_id": "PESC",
        "email_from": "nobody@example.com", "integration_key": "ik", "api": rx.url(),
        "events_url": format!("{}/v2/enqueue", rx.url()),
    });
    let outcome = deliver_to("pagerduty-incident:sox", &alert(), creds).await;
    assert_failed(&outcome, &["nobody@example.com"]);
    assert_eq!(
        rx.requests().len(),
        1,
        "no event is sent before the user is known"
    );
}

#[tokio::test]
async fn github_opens_an_issue() {
    let rx = receiver();
    rx.set_default_reply(Reply::json(201, &json!({"number": 1})));
    let creds = json!({
        "repository": "acme/alerts", "labels": "security,sa", "username": "bot",
        "access_token": "ghp_x", "api": rx.url(),
    });
    assert_delivered(&deliver_to("github:security", &alert(), creds).await);
    let request = only_request(&rx);
    assert_eq!(
        (request.method.as_str(), request.path()),
        ("POST", "/repos/acme/alerts/issues")
    );
    assert_eq!(
        request.header("authorization"),
        Some(basic("bot", "ghp_x").as_str())
    );
    let body = request.json();
    assert_eq!(body["title"], "StreamAlert: cloudtrail_root_account_usage");
    assert_eq!(body["labels"], json!(["security", "sa"]));
    let text = body["body"].as_str().unwrap();
    assert!(text.starts_with("### Description\nRoot account used to log in\n\n### Event data\n\n```\n{\n  \"eventName\": \"ConsoleLogin\",\n  \"resources\": [],"), "{text}");
    assert!(text.ends_with("}\n```"), "{text}");
}

#[tokio::test]
async fn jira_server_logs_in_and_comments_on_the_aggregated_issue() {
    let rx = jira_with_login();
    rx.route(
        "GET",
        "/rest/api/2/search",
        Reply::json(200, &json!({"issues": [{"id": "10001"}]})),
    );
    rx.route(
        "POST",
        "/rest/api/2/issue/10001/comment",
        Reply::json(201, &json!({"id": "c1"})),
    );
    let creds = json!({
        "username": "sa", "password": "pw", "url": format!("{}/", rx.url()), "project_key": "SEC",
        "issue_type": "Task", "aggregate": "Yes",
    });
    assert_delivered(&deliver_to("jira:secops", &json!({"b": 1, "a": 2}), creds).await);
    let requests = rx.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(
        requests[0].json(),
        json!({"username": "sa", "password": "pw"})
    );
    let search = &requests[1];
    assert_eq!(search.header("cookie"), Some("JSESSIONID=s3"));
    assert!(
        search.query().contains("maxResults=1")
            && search.query().contains("fields=id&fields=summary"),
        "{}",
        search.query()
    );
    assert!(
        search.query().contains("project%3D%22SEC%22"),
        "{}",
        search.query()
    );
    assert_eq!(requests[2].header("cookie"), Some("JSESSIONID=s3"));
    assert_eq!(
        requests[2].json(),
        json!({"body": "{code:JSON}{\"a\": 2, \"b\": 1}{code}"})
    );
}

#[tokio::test]
async fn jira_v2_keeps_the_base_url_and_creates_an_issue() {
    let rx = receiver();
    rx.route(
        "POST",
        "/jira/rest/api/2/issue",
        Reply::json(201, &json!({"id": "10002", "key": "SEC-2"})),
    );
    let creds = json!({
        "api_key": "tok", "user_name": "sa@example.com", "url": format!("{}/jira", rx.url()),
        "project_key": "SEC", "issue_type": "Bug", "aggregate": "no",
    });
    let publication = json!({"@jira.issue_summary": "Root login", "@jira.description": "details"});
    assert_delivered(&deliver_to("jira-v2:cloud", &publication, creds).await);
    let request = only_request(&rx);
    assert_eq!(request.path(), "/jira/rest/api/2/issue");
    assert_eq!(
        request.header("authorization"),
        Some(basic("sa@example.com", "tok").as_str())
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({"fields": {"project": {"key": "SEC"}, "summary": "Root login", "description": "details", "issuetype": {"name": "Bug"}}})
    );
}

#[tokio::test]
async fn phantom_creates_a_container_then_an_artifact() {
    let rx = phantom_finding(Reply::json(200, &json!({"count": 0, "data": []})));
    rx.route(
        "POST",
        "/rest/container",
        Reply::json(200, &json!({"id": 7, "success": true})),
    );
    let alert = alert();
    assert_delivered(&deliver_to("phantom:soar", &alert, phantom_credentials(&rx)).await);
    let requests = rx.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0].query(),
        "_filter_name=%22cloudtrail_root_account_usage%22&page_size=1"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.header("ph-auth-token") == Some("pt"))
    );
    assert_eq!(
        requests[1].json(),
        json!({"name": "cloudtrail_root_account_usage", "description": "Root account used to log in"})
    );
    assert_eq!(
        requests[2].json(),
        json!({"cef": alert["record"], "container_id": 7, "data": alert, "name": "Phantom Artifact", "label": "Alert"})
    );
}

#[tokio::test]
async fn komand_demisto_victorops_teams_requests() {
    let rx = receiver();
    let alert = alert();
    let outputs = outputs(&[
        ("komand:k", None),
        ("demisto:d", None),
        ("victorops:v", None),
        ("teams:t", None),
    ]);
    let komand =
        credentials(json!({"komand_auth_token": "kt", "url": format!("{}/komand", rx.url())}));
    assert_delivered(&deliver(&outputs, "komand:k", &alert, &alert, &komand).await);
    let demisto = credentials(json!({"url": rx.url(), "token": "dt"}));
    let publication = json!({"@demisto.severity": "High", "a": {"b": [1]}});
    assert_delivered(&deliver(&outputs, "demisto:d", &alert, &publication, &demisto).await);
    let victorops = credentials(json!({
        "victorops_api_id": "vid", "victorops_api_key": "vkey", "url": format!("{}/vo/", rx.url()), "routing_key": "sec",
    }));
    assert_delivered(&deliver(&outputs, "victorops:v", &alert, &json!({}), &victorops).await);
    let teams = credentials(json!({"url": format!("{}/teams", rx.url())}));
    let publication =
        json!({"@teams.buttons": [["Runbook", "https://runbook"]], "@teams.card_color": "00FF00"});
    assert_delivered(&deliver(&outputs, "teams:t", &alert, &publication, &teams).await);

    let requests = rx.requests();
    assert_eq!(requests.len(), 4);
    let komand = &requests[0];
    assert_eq!(
        (komand.path(), komand.header("authorization")),
        ("/komand", Some("kt"))
    );
    assert_eq!(komand.json(), json!({"data": alert}));

    let demisto = &requests[1];
    assert_eq!(
        (demisto.path(), demisto.header("authorization")),
        ("/incident", Some("dt"))
    );
    assert_eq!(
        demisto.json(),
        json!({"type": "Unclassified", "name": "cloudtrail_root_account_usage", "owner": "StreamAlert",
               "playbook": "Unknown", "severity": 3,
               "labels": [{"type": "@demisto.severity", "value": "High"}, {"type": "a.b[0]", "value": "1"}],
               "customFields": {}, "details": "Root account used to log in", "createInvestigation": true})
    );

    let victorops = &requests[2];
    assert_eq!(victorops.path(), "/vo/sec");
    assert_eq!(
        (
            victorops.header("x-vo-api-id"),
            victorops.header("x-vo-api-key")
        ),
        (Some("vid"), Some("vkey"))
    );
    assert_eq!(
        victorops.json(),
        json!({"message_type": "CRITICAL", "entity_id": "streamalert/alert",
               "entity_display_name": "cloudtrail_root_account_usage", "record": alert["record"]})
    );

    let card = requests[3].json();
    assert_eq!(
        card["title"],
        "StreamAlert Rule Triggered: cloudtrail_root_account_usage"
    );
    assert_eq!(card["themeColor"], "00FF00");
    assert_eq!(
        card["sections"][0]["facts"][1],
        json!({"name": "alert_id", "value": ALERT_ID})
    );
    assert_eq!(
        card["sections"][1]["activityTitle"],
        "StreamAlert Alert Record"
    );
    assert!(card["sections"][1]["facts"].as_array().unwrap().contains(
        &json!({"name": "userIdentity", "value": "{'type': 'Root', 'arn': 'arn:aws:iam::123456789012:root'}"})
    ));
    assert_eq!(
        card["potentialAction"],
        json!([{"@context": "http://schema.org", "@type": "ViewAction", "name": "Runbook", "target": ["https://runbook"]}])
    );
}

#[tokio::test]
async fn teams_needs_exactly_200() {
    let rx = receiver();
    rx.set_default_reply(Reply::status(202));
    let outcome = deliver_to("teams:t", &alert(), json!({"url": rx.url()})).await;
    assert_failed(&outcome, &[]);
}

#[tokio::test]
async fn carbonblack_bans_a_hash_once_the_binary_is_known() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let rx = carbonblack_knowing(md5, Reply::status(404));
    let outputs = outputs(&[("carbonblack:cb", None)]);
    let mut alert = alert();
    let creds = credentials(json!({"url": rx.url(), "token": "cbt"}));
    let outcome = deliver(&outputs, "carbonblack:cb", &alert, &alert, &creds).await;
    assert_failed(&outcome, &[]); // no ban context
    assert!(rx.requests().is_empty());

    alert["context"] = json!({"carbonblack": {"action": "ban", "value": md5}});
    let outcome = deliver(&outputs, "carbonblack:cb", &alert, &alert, &creds).await;
    assert_delivered(&outcome);
    let requests = rx.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.header("x-auth-token") == Some("cbt"))
    );
    assert_eq!(
        (requests[2].method.as_str(), requests[2].path()),
        ("POST", "/api/v1/banning/blacklist")
    );
    assert_eq!(
        requests[2].json(),
        json!({"md5hash": md5, "text": "Banned from StreamAlert", "enabled": true})
    );
}

#[tokio::test]
async fn webhook_signs_the_exact_body_and_names_the_alert() {
    let rx = receiver();
    let outputs = outputs(&[("webhook:siem", None)]);
    let alert = alert();
    let creds = credentials(json!({
        "url": format!("{}/hook?src=sa", rx.url()), "secret": "s3cr3t",
        "headers": "{\"X-Tenant\": \"acme\"}",
    }));
    let publication = json!({"@slack.text": "ignored", "id": ALERT_ID, "record": {"k": "v"}});
    let outcome = deliver(&outputs, "webhook:siem", &alert, &publication, &creds).await;
    assert_delivered(&outcome);
    let request = only_request(&rx);
    assert_eq!(request.target, "/hook?src=sa");
    assert_eq!(request.header("x-sa-alert-id"), Some(ALERT_ID));
    assert_eq!(request.header("x-tenant"), Some("acme"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json(), publication);
    let expected = format!("sha256={}", webhook_signature(b"s3cr3t", &request.body));
    assert_eq!(request.header("x-sa-signature"), Some(expected.as_str()));

    let unsigned = credentials(json!({"url": rx.url()}));
    deliver(&outputs, "webhook:siem", &alert, &publication, &unsigned).await;
    assert_eq!(rx.requests()[1].header("x-sa-signature"), None);
}

#[tokio::test]
async fn opsgenie_alert_uses_the_alert_id_as_alias() {
    let rx = receiver();
    rx.set_default_reply(Reply::json(
        202,
        &json!({"result": "Request will be processed", "requestId": "r"}),
    ));
    let creds = json!({"api_key": "gk", "url": rx.url()});
    let publication = json!({"@opsgenie.priority": "P1"});
    assert_delivered(&deliver_to("opsgenie:soc", &publication, creds).await);
    let request = only_request(&rx);
    assert_eq!(
        (request.method.as_str(), request.path()),
        ("POST", "/v2/alerts")
    );
    assert_eq!(request.header("authorization"), Some("GenieKey gk"));
    let body = request.json();
    assert_eq!(body["alias"], ALERT_ID);
    assert_eq!(body["priority"], "P1");
    assert_eq!(
        body["message"],
        "StreamAlert Rule Triggered - cloudtrail_root_account_usage"
    );
    assert_eq!(
        body["details"]["rule_name"],
        "cloudtrail_root_account_usage"
    );
    let record: Value = serde_json::from_str(body["details"]["record"].as_str().unwrap()).unwrap();
    assert_eq!(record, alert()["record"]);
}

#[tokio::test]
async fn statuses_map_to_retry_or_failed() {
    let rx = receiver();
    let outputs = outputs(&[("webhook:w", None)]);
    let alert = alert();
    let creds = credentials(json!({"url": rx.url()}));
    let attempt = || deliver(&outputs, "webhook:w", &alert, &alert, &creds);

    rx.queue_reply(Reply::status(500));
    assert!(matches!(
        attempt().await,
        DeliveryOutcome::Retry { after: None, .. }
    ));
    rx.queue_reply(Reply::status(503).with_header("Retry-After", "3"));
    assert!(
        matches!(attempt().await, DeliveryOutcome::Retry { after: Some(d), .. } if d == Duration::from_secs(3))
    );
    rx.queue_reply(Reply::too_many_requests("17"));
    let outcome = attempt().await;
    assert!(
        matches!(&outcome, DeliveryOutcome::Retry { after: Some(d), reason } if *d == Duration::from_secs(17) && reason.contains("429")),
        "{outcome:?}"
    );
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    rx.queue_reply(Reply::too_many_requests(&date));
    match attempt().await {
        DeliveryOutcome::Retry { after: Some(d), .. } => assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        ),
        other => panic!("{other:?}"),
    }
    rx.queue_reply(Reply::status(408));
    assert_retry(&attempt().await, &[]);
    rx.queue_reply(Reply::text(404, "no such hook"));
    assert_failed(&attempt().await, &["404", "no such hook"]);
    rx.queue_reply(Reply::status(401));
    assert_failed(&attempt().await, &[]);
    assert_delivered(&attempt().await);
    assert_eq!(
        rx.requests().len(),
        8,
        "one request per attempt, no hidden retries"
    );
}

#[tokio::test]
async fn a_hanging_receiver_is_a_timeout_to_retry() {
    let rx = receiver();
    rx.set_default_reply(Reply::hang());
    let outputs = outputs(&[("slack:s", None)]).with_request_timeout(Duration::from_millis(300));
    let alert = alert();
    let creds = credentials(json!({"url": format!("{}/services/SECRET", rx.url())}));
    let started = std::time::Instant::now();
    let outcome = deliver(&outputs, "slack:s", &alert, &alert, &creds).await;
    let reason = assert_retry(&outcome, &["timed out"]);
    assert!(!reason.contains("SECRET"), "{outcome:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rx.wait_for_requests(1, Duration::from_secs(1)).len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried() {
    let port = sa_chaos_tests::free_loopback_port();
    let creds = json!({"url": format!("http://127.0.0.1:{port}/x")});
    assert_retry(&deliver_to("slack:s", &alert(), creds).await, &[]);
}

#[tokio::test]
async fn misconfiguration_fails_without_a_request() {
    let rx = receiver();
    let outputs = outputs(&[("slack:s", None)]);
    let alert = alert();
    let outcome = deliver(&outputs, "slack:s", &alert, &alert, &credentials(json!({}))).await;
    assert_misconfigured(&outcome, &["\"url\""]);
    let creds = credentials(json!({"url": rx.url()}));
    let outcome = deliver(&outputs, "slack:other", &alert, &alert, &creds).await;
    assert_failed(&outcome, &["not configured"]);
    let outcome = deliver(&outputs, "smtp:x", &alert, &alert, &creds).await;
    assert_failed(&outcome, &["known services"]);
    assert!(rx.requests().is_empty());
}

#[tokio::test]
async fn file_appends_one_line_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let outputs = outputs(&[
        ("file:local", Some(path.to_str().unwrap())),
        ("stdout:console", None),
    ]);
    let alert = alert();
    let none = credentials(json!({}));
    for _ in 0..2 {
        assert_delivered(&deliver(&outputs, "file:local", &alert, &alert, &none).await);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![alert.clone(), alert.clone()]);
    assert_delivered(&deliver(&outputs, "stdout:console", &alert, &alert, &none).await);
}

#[tokio::test]
async fn https_urls_go_through_tls() {
    // a plain-HTTP peer cannot complete a TLS handshake: the request was attempted over TLS
    // (a client built without TLS support refuses https URLs outright, which would be Failed)
    let rx = receiver();
    let creds = json!({"url": format!("https://{}/services/SECRET", rx.addr())});
    let outcome = deliver_to("slack:s", &alert(), creds).await;
    let reason = assert_retry(&outcome, &["tls"]);
    assert!(!reason.contains("SECRET"), "{outcome:?}");
}

#[tokio::test]
async fn slack_empty_publisher_attachments_fall_back_to_the_record() {
    let rx = receiver();
    let publication = json!({"@slack.attachments": []});
    assert_delivered(&deliver_to("slack:s", &publication, json!({"url": rx.url()})).await);
    assert_eq!(
        only_request(&rx).json()["attachments"][0]["title"],
        "Record:"
    );
}

#[tokio::test]
async fn carbonblack_re_enables_a_disabled_ban_and_leaves_an_enabled_one() {
    let md5 = "0cc175b9c0f1b6a831c399e269772661";
    let rx = carbonblack_knowing(
        md5,
        Reply::json(200, &json!({"md5hash": md5, "enabled": false})),
    );
    let outputs = outputs(&[("carbonblack:cb", None)]);
    let mut alert = alert();
    alert["context"] = json!({"carbonblack": {"action": "ban", "value": md5}});
    let creds = credentials(json!({"url": rx.url(), "token": "cbt"}));
    assert_delivered(&deliver(&outputs, "carbonblack:cb", &alert, &alert, &creds).await);
    let requests = rx.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        (requests[2].method.as_str(), requests[2].path()),
        ("PUT", format!("/api/v1/banning/blacklist/{md5}").as_str())
    );
    assert_eq!(requests[2].json()["enabled"], true);

    let rx = carbonblack_knowing(
        md5,
        Reply::json(200, &json!({"md5hash": md5, "enabled": true})),
    );
    let creds = credentials(json!({"url": rx.url(), "token": "cbt"}));
    assert_delivered(&deliver(&outputs, "carbonblack:cb", &alert, &alert, &creds).await);
    assert_eq!(rx.requests().len(), 2, "an enabled ban is left alone");

    let rx = receiver();
    rx.route(
        "GET",
        &format!("/api/v1/binary/{md5}/summary"),
        Reply::status(404),
    );
    let creds = credentials(json!({"url": rx.url(), "token": "cbt"}));
    let outcome = deliver(&outputs, "carbonblack:cb", &alert, &alert, &creds).await;
    assert_failed(&outcome, &[md5]);
}

#[tokio::test]
async fn phantom_reuses_the_rule_container() {
    let rx = phantom_finding(Reply::json(200, &json!({"count": 1, "data": [{"id": 42}]})));
    assert_delivered(&deliver_to("phantom:soar", &alert(), phantom_credentials(&rx)).await);
    let requests = rx.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].path(), "/rest/artifact");
    assert_eq!(requests[1].json()["container_id"], 42);
}

#[tokio::test]
async fn jira_server_opens_an_issue_without_aggregation() {
    let rx = jira_with_login();
    rx.route(
        "POST",
        "/rest/api/2/issue",
        Reply::json(201, &json!({"id": "10003"})),
    );
    let outputs = outputs(&[("jira:secops", None)]);
    let alert = alert();
    let creds = credentials(json!({
        "username": "sa", "password": "pw", "url": rx.url(), "project_key": "SEC",
        "issue_type": "Task", "aggregate": "no",
    }));
    assert_delivered(&deliver(&outputs, "jira:secops", &alert, &alert, &creds).await);
    let requests = rx.requests();
    assert_eq!(requests.len(), 2);
    let issue = requests[1].json();
    assert_eq!(
        issue["fields"]["summary"],
        "StreamAlert cloudtrail_root_account_usage"
    );
    let description = issue["fields"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("{code:JSON}{\"cluster\": \"prod\", \"context\": {}, ")
            && description.ends_with("}{code}"),
        "{description}"
    );

    rx.route(
        "POST",
        "/rest/api/2/issue",
        Reply::json(201, &json!({"errors": {}})),
    );
    let outcome = deliver(&outputs, "jira:secops", &alert, &alert, &creds).await;
    assert_failed(&outcome, &[]); // no issue id
}
