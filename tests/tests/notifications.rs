//! A dedicated connection's notifications are bounded: a reader that falls behind is told it
//! lagged instead of the buffer growing without limit, and its connection keeps answering.

use orderflow_tests::{fixtures::Isolated, Env};
use platform::{db, secret::Secret};

#[tokio::test]
async fn a_reader_that_falls_behind_is_told_it_lagged_and_the_connection_still_answers() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let (client, mut notifications) = db::dedicated(&Secret::new(iso.database_url.clone()))
        .await
        .expect("connects");
    client.batch_execute("LISTEN burst").await.unwrap();
    // More notifications than the buffer holds, none read meanwhile.
    let notifier = iso.client().await;
    notifier
        .batch_execute("SELECT pg_notify('burst', g::text) FROM generate_series(1, 3000) g")
        .await
        .unwrap();
    // The connection answers its own queries although nobody read the notifications: its
    // backend is the one that LISTENs (a query on another connection would prove nothing).
    let listening: i64 = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.query_one(
            "SELECT count(*) FROM pg_listening_channels() c WHERE c = 'burst'",
            &[],
        ),
    )
    .await
    .expect("the connection answers while its notifications pile up")
    .unwrap()
    .get(0);
    assert_eq!(listening, 1, "the connection still listens on burst");

    assert!(
        matches!(notifications.recv().await, Some(db::Notice::Lagged)),
        "the lag is reported first"
    );
    // What the buffer kept, in order, then nothing of the burst: the rest was dropped.
    let mut kept = Vec::new();
    while let Ok(Some(db::Notice::Notification(n))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), notifications.recv()).await
    {
        kept.push(n.payload().parse::<u32>().expect("a number of the burst"));
    }
    assert!(
        !kept.is_empty() && kept.len() < 3000,
        "kept {} of 3000",
        kept.len()
    );
    assert_eq!(
        kept,
        (1..=kept.len() as u32).collect::<Vec<_>>(),
        "the first ones, in order"
    );

    // Once read, the connection delivers the next notification as it comes.
    notifier
        .batch_execute("SELECT pg_notify('burst', 'after')")
        .await
        .unwrap();
    match tokio::time::timeout(std::time::Duration::from_secs(10), notifications.recv()).await {
        Ok(Some(db::Notice::Notification(n))) => assert_eq!(n.payload(), "after"),
        other => panic!("expected the notification after the burst, got {other:?}"),
    }
}
