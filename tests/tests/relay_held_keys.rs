//! `orderflow_outbox_blocked_keys` counts the keys the relay holds back. The gauge is one per
//! process (a service runs one relay), so this test is alone in its binary: another test's relay
//! would set it too.

use orderflow_tests::{
    fixtures::{event, in_outbox, insert_outbox_row, Isolated},
    read_topic, wait_until, Env,
};
use platform::{app::Platform, metrics::METRICS};
use schemas::{codec, Topic};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_gauge_counts_each_held_key_once() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let platform = Platform::build(iso.settings(), &[]).await.unwrap();
    let db = iso.client().await;
    // Two rows of one key that this build cannot frame (a version it does not know), and one
    // good row of another key.
    let held = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    let held_later = event(held.header().order_id, "CUSTOMER_REQUEST");
    let good = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    for (e, version) in [(&held, 99), (&held_later, 1), (&good, 1)] {
        insert_outbox_row(&db, e, &codec::encode_datum(e).unwrap(), version).await;
    }
    assert_eq!(METRICS.outbox_blocked_keys.get(), 0, "no relay ran yet");
    let stop = CancellationToken::new();
    tokio::spawn(platform.relay().run(stop.clone()));

    wait_until(WAIT, "the good row to be published", || async {
        (!in_outbox(&db, good.header().event_id).await).then_some(())
    })
    .await;
    assert_eq!(
        read_topic(&iso.env, &iso.topic(Topic::Orders), 1, WAIT)
            .await
            .len(),
        1
    );
    assert!(in_outbox(&db, held.header().event_id).await);
    assert!(in_outbox(&db, held_later.header().event_id).await);
    assert_eq!(
        METRICS.outbox_blocked_keys.get(),
        1,
        "one key held, however many rows"
    );
    assert!(
        METRICS
            .render()
            .contains("\norderflow_outbox_blocked_keys 1\n"),
        "the exposition shows it"
    );
    stop.cancel();
}
