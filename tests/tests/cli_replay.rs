//! `orderflow replay read-model` on the real stack: after a burst of orders with traffic still
//! flowing, the rebuilt shadow matches the live read model once caught up; the live tables are
//! never written; a second rebuild of the same log gives identical tables.

use futures::{stream, StreamExt};
use orderflow_tests::{
    cli::Orderflow,
    services::{customer, order_body, Services},
    wait_until,
};
use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

/// Enough orders that the rebuild runs in many batches and its progress is visible.
const BURST: usize = 1_000;

/// A digest of a view table: every order's status and version.
async fn digest(db: &tokio_postgres::Client, table: &str) -> (i64, String) {
    let row = db
        .query_one(
            &format!(
                "SELECT count(*), coalesce(md5(string_agg(order_id::text || status || version, ','
                                                          ORDER BY order_id)), '')
                 FROM {table}"
            ),
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_rebuild_under_traffic_matches_the_live_read_model_once_caught_up() {
    let services = Arc::new(Services::start().await);
    let cli = Orderflow::for_services(&services);
    let db = services.iso.client().await;

    let customer = customer();
    stream::iter(0..BURST)
        .for_each_concurrent(16, |_| {
            let (services, customer) = (services.clone(), customer.clone());
            async move {
                services.place(&order_body(&customer, 1_000)).await;
            }
        })
        .await;

    // Traffic goes on while the shadow is built.
    let stop = Arc::new(AtomicBool::new(false));
    let placed = Arc::new(AtomicUsize::new(BURST));
    let traffic = tokio::spawn({
        let (services, customer, stop, placed) = (
            services.clone(),
            customer.clone(),
            stop.clone(),
            placed.clone(),
        );
        async move {
            while !stop.load(Ordering::Relaxed) {
                services.place(&order_body(&customer, 1_000)).await;
                placed.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let first = cli.json(&["replay", "read-model", "--fresh"]).await;
    assert!(
        first[0]["rebuilt"]["applied"].as_u64().unwrap() >= BURST as u64,
        "{first:?}"
    );
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let placed = placed.load(Ordering::Relaxed) as i64;

    // Once the live projector has every order settled (placed, authorized, scheduled), the
    // resumed rebuild catches up and agrees with it.
    wait_until(Duration::from_secs(300), "every order settled in the live view", || {
        let db = &db;
        async move {
            let settled: i64 = db
                .query_one(
                    "SELECT count(*) FROM order_views WHERE status = 'SHIPMENT_SCHEDULED' AND version = 3",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (settled == placed).then_some(())
        }
    })
    .await;
    let live_before = digest(&db, "order_views").await;
    let verified = cli.json(&["replay", "read-model", "--verify"]).await;
    let summary = &verified[1]["verify"];
    assert_eq!(summary["live_orders"], placed, "{summary}");
    assert_eq!(summary["shadow_orders"], placed, "{summary}");
    for field in ["only_live", "only_shadow", "mismatched"] {
        assert_eq!(summary[field], 0, "{field}: {summary}");
    }
    assert_eq!(summary["events_gone"], serde_json::json!([]));
    let shadow = digest(&db, "order_views_rebuild").await;
    assert_eq!(shadow, live_before, "shadow and live views are the same");
    assert_eq!(
        digest(&db, "order_views").await,
        live_before,
        "the live view was not written"
    );

    // A second rebuild of the same log, from scratch, gives the same tables.
    cli.json(&["replay", "read-model", "--fresh"]).await;
    assert_eq!(digest(&db, "order_views_rebuild").await, shadow);
}
