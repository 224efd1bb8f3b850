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
    // The connection answers its own queries although nobody read the notifications.
    let one: i32 = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.query_one("SELECT 1", &[]),
    )
    .await
    .expect("the connection answers while its notifications pile up")
    .unwrap()
    .get(0);
    assert_eq!(one, 1);

    assert!(
        matches!(notifications.recv().await, Some(db::Notice::Lagged)),
        "the lag is reported first"
    );
    let mut kept = 0;
    while let Ok(Some(db::Notice::Notification(_))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), notifications.recv()).await
    {
        kept += 1;
    }
    assert!(kept > 0 && kept < 3000, "kept {kept} of 3000");
}
