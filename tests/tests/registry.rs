//! The live registry enforces the evolution rules the repository's tests check offline: the
//! kept versions register in order, and a breaking change is refused (not silently accepted,
//! as Apicurio's ccompat API once did with compatibility settings).

use orderflow_tests::{unique, Env};
use reqwest::StatusCode;
use schemas::EventType;
use serde_json::json;

async fn register(env: &Env, subject: &str, schema: &str) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/subjects/{subject}/versions", env.registry))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .json(&json!({ "schema": schema }))
        .send()
        .await
        .expect("registry reachable");
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_registry_accepts_the_kept_versions_and_rejects_a_breaking_change() {
    let env = Env::from_env();
    let config: serde_json::Value = reqwest::get(format!("{}/config", env.registry))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["compatibilityLevel"], "BACKWARD", "{config}");

    let subject = format!(
        "{}-{}",
        unique("evolution"),
        EventType::OrderPlaced.full_name()
    );
    let mut ids = Vec::new();
    for (version, schema) in EventType::OrderPlaced.history().iter().enumerate() {
        let (status, body) = register(&env, &subject, schema).await;
        assert_eq!(status, StatusCode::OK, "v{} refused: {body}", version + 1);
        ids.push(body["id"].as_u64().expect("an id"));
    }
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "each version has its own id");

    // A required field without a default: v3 could not read v2 events.
    let breaking = EventType::OrderPlaced.schema_json().replacen(
        r#""fields": ["#,
        r#""fields": [{"name": "coupon", "type": "string"},"#,
        1,
    );
    let (status, body) = register(&env, &subject, &breaking).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "breaking change accepted: {body}"
    );

    let versions: Vec<u32> = reqwest::get(format!("{}/subjects/{subject}/versions", env.registry))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 2], "the refused version was not stored");
}
