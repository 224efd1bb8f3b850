//! The outbox relay on the real stack: redelivery after a crash between acknowledgement and
//! marking, late-committing transactions, and leadership among replicas.

use orderflow_tests::{
    fixtures::{effects_of, event, in_outbox, run_recorder, Isolated, EFFECTS_TABLE},
    group_progress_now, read_topic, wait_until, Env,
};
use platform::{app::Platform, consumer::header_map, db, outbox};
use rdkafka::Message;
use schemas::{DomainEvent, Topic};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

async fn write(platform: &Platform, event: &DomainEvent) {
    let mut client = platform.pool.get().await.unwrap();
    let tx = outbox::Transaction::begin(&mut client).await.unwrap();
    outbox::enqueue(&tx, event).await.unwrap();
    outbox::commit(tx).await.unwrap();
}

/// The rows left in the outbox: the relay deletes what the broker acknowledged.
async fn pending(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0)
}

fn event_ids(messages: &[rdkafka::message::OwnedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| header_map(m).remove("event_id").expect("event_id header"))
        .collect()
}

#[tokio::test]
async fn a_relay_killed_after_the_ack_republishes_and_the_effect_happens_once() {
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    let platform = Platform::build(iso.settings(), &[EFFECTS_TABLE])
        .await
        .unwrap();
    let db = iso.client().await;
    let sent = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    let event_id = sent.header().event_id;
    write(&platform, &sent).await;

    // First relay: publishes, is acknowledged, and dies before marking the row.
    let crashed = platform.relay();
    let (relay_db, _) = db::dedicated(&platform.settings.database.url)
        .await
        .unwrap();
    let rows = crashed.fetch_pending(&relay_db).await.unwrap();
    assert_eq!(rows.len(), 1);
    let outcome = crashed.publish(&rows).await.unwrap();
    assert_eq!(
        outcome.acknowledged,
        vec![rows[0].id],
        "the broker acknowledged the row"
    );
    drop((crashed, relay_db));
    assert_eq!(pending(&db).await, 1, "the row is still unpublished");

    // Its successor sends it again; the consumer applies it once.
    let stop = CancellationToken::new();
    tokio::spawn(platform.relay().run(stop.clone()));
    let (recorder, _) = run_recorder(&platform);
    wait_until(WAIT, "the row to be deleted as published", || async {
        (pending(&db).await == 0).then_some(())
    })
    .await;
    let topic = iso.topic(Topic::Orders);
    let on_topic = read_topic(&iso.env, &topic, 2, WAIT).await;
    assert_eq!(
        event_ids(&on_topic),
        vec![event_id.to_string(); 2],
        "sent twice"
    );
    let group = format!("{}recorder", iso.namespace);
    wait_until(WAIT, "the consumer to commit past both copies", || async {
        let (committed, end) = group_progress_now(&iso.env, &group, &topic).await;
        (committed == end).then_some(())
    })
    .await;
    assert_eq!(effects_of(&db, event_id).await, 1, "exactly one effect");
    recorder.cancel();
    stop.cancel();
}

#[tokio::test]
async fn a_row_whose_transaction_commits_late_with_a_smaller_id_is_still_published() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let platform = Platform::build(iso.settings(), &[]).await.unwrap();
    let db = iso.client().await;
    let stop = CancellationToken::new();
    tokio::spawn(platform.relay().run(stop.clone()));

    // One order, so one key and one partition: the topic's order of the two is defined.
    let order_id = Uuid::new_v4();
    let early = event(order_id, "CUSTOMER_REQUEST");
    let late = event(order_id, "CUSTOMER_REQUEST");
    // The slow transaction takes its id first...
    let mut slow_client = platform.pool.get().await.unwrap();
    let slow = outbox::Transaction::begin(&mut slow_client).await.unwrap();
    outbox::enqueue(&slow, &early).await.unwrap();
    // ...a later one commits and is published meanwhile...
    write(&platform, &late).await;
    let topic = iso.topic(Topic::Orders);
    let first = read_topic(&iso.env, &topic, 1, WAIT).await;
    assert_eq!(
        event_ids(&first),
        [late.header().event_id.to_string()],
        "the later row is published while the earlier id is not committed"
    );
    // ...and the slow one, committed last, is not skipped.
    outbox::commit(slow).await.unwrap();
    let both = read_topic(&iso.env, &topic, 2, WAIT).await;
    assert_eq!(
        event_ids(&both),
        [
            late.header().event_id.to_string(),
            early.header().event_id.to_string()
        ],
        "the late-committed row with the smaller id follows"
    );
    wait_until(WAIT, "the outbox to be empty", || async {
        (pending(&db).await == 0).then_some(())
    })
    .await;
    stop.cancel();
}

#[tokio::test]
async fn only_the_leader_publishes_and_a_standby_takes_over_when_it_dies() {
    let env = Env::from_env();
    let a = Isolated::new(env.clone(), &[]).await;
    // A second namespace for the second relay, on the same database: which topic an event
    // lands on tells which relay published it.
    let b = Isolated::new(env.clone(), &[]).await;
    let settings_a = a.settings();
    let mut settings_b = a.settings();
    settings_b.kafka.namespace = b.namespace.clone();
    let platform_a = Platform::build(settings_a, &[]).await.unwrap();
    let platform_b = Platform::build(settings_b, &[]).await.unwrap();
    let db = a.client().await;

    let stop = CancellationToken::new();
    let relay_a = tokio::spawn(platform_a.relay().run(stop.clone()));
    let relay_b = tokio::spawn(platform_b.relay().run(stop.clone()));
    let first = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    write(&platform_a, &first).await;
    wait_until(WAIT, "the first row to be published", || async {
        (!in_outbox(&db, first.header().event_id).await).then_some(())
    })
    .await;
    let on_a = read_topic(&env, &a.topic(Topic::Orders), 1, Duration::from_secs(3)).await;
    let on_b = read_topic(&env, &b.topic(Topic::Orders), 1, Duration::from_secs(3)).await;
    assert_eq!(on_a.len() + on_b.len(), 1, "exactly one relay published");

    // Kill the leader; the standby takes over within seconds.
    let (leader, standby_topic) = if on_a.len() == 1 {
        (relay_a, b.topic(Topic::Orders))
    } else {
        (relay_b, a.topic(Topic::Orders))
    };
    leader.abort();
    let second = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    write(&platform_a, &second).await;
    wait_until(
        Duration::from_secs(15),
        "the standby to publish",
        || async { (!in_outbox(&db, second.header().event_id).await).then_some(()) },
    )
    .await;
    let on_standby = read_topic(&env, &standby_topic, 1, WAIT).await;
    assert_eq!(
        event_ids(&on_standby),
        vec![second.header().event_id.to_string()],
        "the standby published the new row, and only it"
    );
    assert!(on_standby[0].key().is_some());
    stop.cancel();
}
