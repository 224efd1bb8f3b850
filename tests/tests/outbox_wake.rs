//! `outbox::commit` wakes the relay of its process only when the transaction enqueued a row:
//! a consumer batch that wrote no outbox row (the projector's) costs the relay no pass.
//!
//! Alone in its test binary: the wake-up is process-wide, so other tests' commits would wake
//! this relay too.

use orderflow_tests::{
    fixtures::{event, in_outbox, insert_outbox_row, Isolated},
    read_topic, wait_until, Env,
};
use platform::{app::Platform, outbox};
use schemas::codec;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn only_a_commit_that_enqueued_wakes_the_relay() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let mut settings = iso.settings();
    // No fallback poll during the test: only wake-ups make the relay look.
    settings.relay.poll_interval_ms = 600_000;
    let platform = Platform::build(settings, &[]).await.unwrap();
    let db = iso.client().await;
    let stop = CancellationToken::new();
    tokio::spawn(platform.relay().run(stop.clone()));

    // Leading and idle once a row written through `enqueue` is published.
    let first = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    let mut client = platform.pool.get().await.unwrap();
    let tx = outbox::Transaction::begin(&mut client).await.unwrap();
    outbox::enqueue(&tx, &first).await.unwrap();
    outbox::commit(tx).await.unwrap();
    wait_until(WAIT, "the enqueued row to be published", || async {
        (!in_outbox(&db, first.header().event_id).await).then_some(())
    })
    .await;
    let topic = iso.topic(schemas::Topic::Orders);
    let published = read_topic(&iso.env, &topic, 1, WAIT).await;
    assert_eq!(published.len(), 1, "the enqueued row is on the topic");

    // A row the transaction wrote without `enqueue`: its commit does not wake the relay.
    let unseen = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    let header = unseen.header();
    let tx = outbox::Transaction::begin(&mut client).await.unwrap();
    let version = unseen.event_type().newest_version() as i32;
    insert_outbox_row(
        &**tx,
        &unseen,
        &codec::encode_datum(&unseen).unwrap(),
        version,
    )
    .await;
    outbox::commit(tx).await.unwrap();
    // An absence has no condition to wait for: the window is many times what a woken relay
    // takes to publish (the first row above: milliseconds), with its fallback poll off.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        in_outbox(&db, header.event_id).await,
        "a commit without enqueued rows woke the relay"
    );

    // The next commit that enqueued wakes it, and its pass takes both rows.
    let second = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    let tx = outbox::Transaction::begin(&mut client).await.unwrap();
    outbox::enqueue(&tx, &second).await.unwrap();
    outbox::commit(tx).await.unwrap();
    wait_until(WAIT, "both rows to be published", || async {
        (!in_outbox(&db, header.event_id).await && !in_outbox(&db, second.header().event_id).await)
            .then_some(())
    })
    .await;
    assert_eq!(read_topic(&iso.env, &topic, 3, WAIT).await.len(), 3);
    stop.cancel();
}
