//! `orderflow dlq` on the real stack: a dead letter whose cause was fixed is redriven and
//! processed once; a second redrive republishes nothing.

use orderflow_tests::{
    cli::Orderflow,
    fixtures::{effects_of, event, produce, Isolated, Recorder, EFFECTS_TABLE},
    group_progress_now, wait_until, Env,
};
use platform::{
    app::Platform,
    consumer::{Handler, HandlerError, InboundEvent},
    outbox::Transaction,
};
use schemas::Topic;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

/// Rejects events of orders missing from `allowed` (a cause an operator can fix), records the
/// others like [`Recorder`].
struct Gate;

impl Handler for Gate {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        let order_id = event.event.header().order_id;
        let known = tx
            .query_opt("SELECT 1 FROM allowed WHERE order_id = $1", &[&order_id])
            .await?;
        if known.is_none() {
            return Err(HandlerError::Rejected(format!(
                "order {order_id} is not allowed"
            )));
        }
        Recorder.handle(tx, event).await
    }
}

/// A namespace with the consumer group `gate` running [`Gate`] on `orders`, the tool pointed
/// at it, and the token that stops the group.
async fn gated() -> (Isolated, Orderflow, CancellationToken) {
    let iso = Isolated::new(Env::from_env(), &["gate"]).await;
    let cli = Orderflow::for_isolated(&iso);
    let allowed = (
        "test_allowed",
        "CREATE TABLE allowed (order_id UUID PRIMARY KEY)",
    );
    let platform = Platform::build(iso.settings(), &[EFFECTS_TABLE, allowed])
        .await
        .unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(
        platform
            .consumer("gate", &[Topic::Orders], Gate)
            .run(stop.clone()),
    );
    (iso, cli, stop)
}

#[tokio::test]
async fn a_fixed_dead_letter_is_redriven_and_processed_once() {
    let (iso, cli, stop) = gated().await;

    let topic = iso.topic(Topic::Orders);
    let order = uuid::Uuid::new_v4();
    let key = order.to_string();
    let sent = event(order, "CUSTOMER_REQUEST");
    let value = iso.framed(&sent, &topic).await;
    produce(&iso.env, &topic, Some(&key), &value).await;

    let listed = wait_until(WAIT, "the dead letter", || async {
        let listed = cli.json(&["dlq", "list", "--group", "gate"]).await;
        (!listed.is_empty()).then_some(listed)
    })
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["key"], key.as_str());
    assert_eq!(
        listed[0]["headers"]["dlq.error.class"],
        "DomainRuleViolation"
    );
    assert_eq!(listed[0]["value"]["reason"], "CUSTOMER_REQUEST");
    let shown = cli
        .json(&["dlq", "show", "--group", "gate", "--offset", "0"])
        .await;
    assert_eq!(
        shown[0]["headers"]["dlq.error.message"],
        format!("order {order} is not allowed")
    );

    // The cause is fixed.
    let db = iso.client().await;
    db.execute("INSERT INTO allowed VALUES ($1)", &[&order])
        .await
        .unwrap();
    let dlq = format!("{}gate.dlq/0/0", iso.namespace);

    // A dry run publishes nothing.
    let planned = cli
        .json(&["dlq", "redrive", "--group", "gate", "--key", &key])
        .await;
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["action"], "would redrive");
    assert_eq!(planned[0]["dead_letter"], dlq.as_str());
    assert_eq!(group_progress_now(&iso.env, "unused", &topic).await.1, 1);

    let redriven = cli
        .json(&[
            "dlq",
            "redrive",
            "--group",
            "gate",
            "--key",
            &key,
            "--execute",
        ])
        .await;
    assert_eq!(redriven[0]["action"], "redriven");
    wait_until(WAIT, "the redriven event to be applied", || async {
        (effects_of(&db, sent.header().event_id).await == 1).then_some(())
    })
    .await;

    // Again: already done, nothing republished.
    let again = cli
        .json(&["dlq", "redrive", "--group", "gate", "--all", "--execute"])
        .await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["action"], "already redriven");
    assert_eq!(again[0]["at"], redriven[0]["at"]);
    let group = format!("{}gate", iso.namespace);
    wait_until(WAIT, "the group to consume everything", || async {
        let (committed, end) = group_progress_now(&iso.env, &group, &topic).await;
        (committed == end).then_some(end)
    })
    .await;
    assert_eq!(group_progress_now(&iso.env, "unused", &topic).await.1, 2);
    assert_eq!(effects_of(&db, sent.header().event_id).await, 1);

    // The copy carries the original headers and where it came from, no failure headers.
    let records = cli.json(&["events", "--topic", "orders"]).await;
    let copy: Vec<&Value> = records
        .iter()
        .filter(|r| r["headers"]["dlq.redriven_from"].is_string())
        .collect();
    assert_eq!(copy.len(), 1, "{records:#?}");
    assert_eq!(copy[0]["headers"]["dlq.redriven_from"], dlq.as_str());
    assert_eq!(copy[0]["key"], key.as_str());
    assert!(copy[0]["headers"].get("dlq.error.class").is_none());
    assert_eq!(
        copy[0]["value"]["event_id"],
        sent.header().event_id.to_string()
    );
    stop.cancel();
}

#[tokio::test]
async fn a_redriven_dead_letter_that_fails_again_is_not_redriven_in_a_loop() {
    let (iso, cli, stop) = gated().await;
    let topic = iso.topic(Topic::Orders);
    let order = uuid::Uuid::new_v4();
    let key = order.to_string();
    let value = iso.framed(&event(order, "CUSTOMER_REQUEST"), &topic).await;
    produce(&iso.env, &topic, Some(&key), &value).await;
    let dead_letters = |n: usize| {
        let cli = &cli;
        async move {
            let listed = cli.json(&["dlq", "list", "--group", "gate"]).await;
            (listed.len() == n).then_some(listed)
        }
    };
    wait_until(WAIT, "the dead letter", || dead_letters(1)).await;

    // Redriven without fixing the cause: dead-lettered again, as a copy that says so.
    cli.json(&["dlq", "redrive", "--group", "gate", "--all", "--execute"])
        .await;
    let listed = wait_until(WAIT, "the copy dead-lettered again", || dead_letters(2)).await;
    let dlq = format!("{}gate.dlq/0/0", iso.namespace);
    assert_eq!(listed[1]["headers"]["dlq.redriven_from"], dlq.as_str());

    // --all leaves the failing copy alone; naming it sends it again.
    let again = cli
        .json(&["dlq", "redrive", "--group", "gate", "--all", "--execute"])
        .await;
    let actions: Vec<&str> = again
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "already redriven",
            "failed again after a redrive; fix the cause, then --offset"
        ]
    );
    let named = cli
        .json(&[
            "dlq",
            "redrive",
            "--group",
            "gate",
            "--offset",
            "1",
            "--execute",
        ])
        .await;
    assert_eq!(named[0]["action"], "redriven");
    stop.cancel();
}
