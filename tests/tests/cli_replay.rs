//! `orderflow replay read-model` on the real stack: after a burst of orders with traffic still
//! flowing, the rebuilt shadow matches the live read model once caught up, the live tables are
//! never written, and a second rebuild of the same log gives identical tables; `--swap` under
//! traffic hands over without losing or doubling an event; topics with unequal partition counts
//! rebuild as well; a second rebuild is refused while one holds the shadow.

use futures::{stream, StreamExt};
use orderflow_tests::{
    cli::Orderflow,
    fixtures::{fresh_namespace, CONTRACT_RETENTION_MS},
    services::{customer, order_body, Options, Services},
    wait_until, Env,
};
use serde_json::Value;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::task::JoinHandle;

/// Enough orders that the rebuild runs in many batches and its progress is visible.
const BURST: usize = 1_000;

/// A digest of a view table: its row count and every order's status and version.
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

/// Places `orders` orders, 16 at a time.
async fn place(services: &Arc<Services>, orders: usize) {
    let customer = customer();
    stream::iter(0..orders)
        .for_each_concurrent(16, |_| {
            let (services, customer) = (services.clone(), customer.clone());
            async move {
                services.place(&order_body(&customer, 1_000)).await;
            }
        })
        .await;
}

/// Orders placed one after the other until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    placed: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Traffic {
    fn start(services: &Arc<Services>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let placed = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (services, stop, placed) = (services.clone(), stop.clone(), placed.clone());
            async move {
                let customer = customer();
                while !stop.load(Ordering::Relaxed) {
                    services.place(&order_body(&customer, 1_000)).await;
                    placed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Traffic { stop, placed, task }
    }

    fn placed(&self) -> usize {
        self.placed.load(Ordering::Relaxed)
    }

    /// Stops placing; how many it placed.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let placed = self.placed.clone();
        self.task.await.unwrap();
        placed.load(Ordering::Relaxed)
    }
}

/// Waits until the live view has `orders` orders, each settled (placed, authorized, scheduled:
/// version 3, not more, not less).
async fn wait_settled(db: &tokio_postgres::Client, orders: usize) {
    wait_until(
        Duration::from_secs(300),
        "every order settled in the live view",
        || async move {
            let row = db
                .query_one(
                    "SELECT count(*) FILTER (WHERE status = 'SHIPMENT_SCHEDULED' AND version = 3),
                            count(*)
                     FROM order_views",
                    &[],
                )
                .await
                .unwrap();
            let (settled, all): (i64, i64) = (row.get(0), row.get(1));
            (settled == orders as i64 && all == orders as i64).then_some(())
        },
    )
    .await;
}

/// Waits until the live view has `orders` orders, each settled, then rebuilds a fresh shadow
/// and verifies it against the live one: no difference.
async fn assert_settled_and_rebuilt(cli: &Orderflow, db: &tokio_postgres::Client, orders: usize) {
    wait_settled(db, orders).await;
    assert_verified(
        cli,
        &["replay", "read-model", "--fresh", "--verify"],
        orders,
    )
    .await;
}

/// Rebuilds and verifies; asserts no difference and `orders` orders on both sides.
async fn assert_verified(cli: &Orderflow, args: &[&str], orders: usize) {
    let lines = cli.json(args).await;
    let summary: &Value = &lines[1]["verify"];
    assert_eq!(summary["live_orders"], orders, "{summary}");
    assert_eq!(summary["shadow_orders"], orders, "{summary}");
    for field in ["only_live", "only_shadow", "mismatched"] {
        assert_eq!(summary[field], 0, "{field}: {summary}");
    }
    assert_eq!(summary["events_gone"], serde_json::json!([]));
}

#[tokio::test]
async fn a_rebuild_under_traffic_matches_the_live_read_model_once_caught_up() {
    let services = Arc::new(Services::start().await);
    let cli = Orderflow::for_services(&services);
    let db = services.iso.client().await;
    place(&services, BURST).await;

    // Traffic goes on while the shadow is built.
    let traffic = Traffic::start(&services);
    let first = cli.json(&["replay", "read-model", "--fresh"]).await;
    assert!(
        first[0]["rebuilt"]["applied"].as_u64().unwrap() >= BURST as u64,
        "{first:?}"
    );
    let orders = BURST + traffic.stop().await;

    // Once the live projector has every order settled, the resumed rebuild catches up and
    // agrees with it, and the live view was only read.
    wait_settled(&db, orders).await;
    let live_before = digest(&db, "order_views").await;
    assert_verified(&cli, &["replay", "read-model", "--verify"], orders).await;
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

#[tokio::test]
async fn a_swap_under_traffic_loses_nothing_and_applies_nothing_twice() {
    let services = Arc::new(Services::start().await);
    let cli = Orderflow::for_services(&services);
    let db = services.iso.client().await;
    place(&services, BURST).await;

    let traffic = Traffic::start(&services);
    let swapped = cli
        .json(&["replay", "read-model", "--fresh", "--swap"])
        .await;
    assert!(swapped[1]["swapped"].is_object(), "{swapped:?}");
    // The projector goes on applying into the swapped-in tables.
    let at_swap = traffic.placed();
    wait_until(
        Duration::from_secs(120),
        "more orders placed after the swap",
        || async { (traffic.placed() >= at_swap + 50).then_some(()) },
    )
    .await;
    let orders = BURST + traffic.stop().await;
    // The API serves the swapped-in tables, long polls included.
    let last = services.place(&order_body(&customer(), 1_000)).await;
    services
        .wait_until_scheduled(last["order_id"].as_str().unwrap())
        .await;
    let orders = orders + 1;

    // Every order settled exactly (version 3: nothing lost, nothing twice), and equal to an
    // independent rebuild of the log.
    assert_settled_and_rebuilt(&cli, &db, orders).await;
    assert_eq!(
        digest(&db, "order_views").await,
        digest(&db, "order_views_rebuild").await
    );
    // The previous live model is kept beside it, as it was at the swap.
    assert!(digest(&db, "order_views_replaced").await.0 > 0);
    // The swapped-in tables serve the API's queries by the same indexes.
    for table in ["order_views", "order_view_events"] {
        let replaced = format!("{table}_replaced");
        assert_eq!(
            indexes(&db, table).await,
            indexes(&db, &replaced).await,
            "{table}"
        );
    }
}

/// The definitions of `table`'s indexes after their names: `USING btree (order_id)`, sorted.
async fn indexes(db: &tokio_postgres::Client, table: &str) -> Vec<String> {
    let mut definitions: Vec<String> = db
        .query(
            "SELECT substring(pg_get_indexdef(indexrelid) FROM ' USING .*$')
             FROM pg_index WHERE indrelid = to_regclass($1)",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    definitions.sort();
    assert!(!definitions.is_empty(), "{table} has no index");
    definitions
}

#[tokio::test]
async fn orders_whose_events_retention_removed_are_reported_apart_not_as_differences() {
    use rdkafka::{
        admin::{AdminClient, AdminOptions},
        client::DefaultClientContext,
        ClientConfig, Offset, TopicPartitionList,
    };
    let services = Services::start().await;
    let cli = Orderflow::for_services(&services);
    let mut gone = Vec::new();
    for _ in 0..3 {
        let placed = services.place(&order_body(&customer(), 1_000)).await;
        let order_id = placed["order_id"].as_str().unwrap().to_owned();
        services.wait_until_scheduled(&order_id).await;
        gone.push(order_id);
    }

    // Retention takes everything the orders topic holds so far.
    let orders = services.topic(schemas::Topic::Orders);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &services.iso.env.kafka)
        .create()
        .unwrap();
    let mut all = TopicPartitionList::new();
    for partition in 0..3 {
        all.add_partition_offset(&orders, partition, Offset::End)
            .unwrap();
    }
    let deleted = admin
        .delete_records(&all, &AdminOptions::new())
        .await
        .unwrap();
    assert!(deleted.elements().iter().all(|e| e.error().is_ok()));

    // An order placed afterwards is whole on the log.
    let kept = services.place(&order_body(&customer(), 1_000)).await;
    services
        .wait_until_scheduled(kept["order_id"].as_str().unwrap())
        .await;

    let lines = cli
        .json(&["replay", "read-model", "--fresh", "--verify"])
        .await;
    let summary = &lines[1]["verify"];
    for field in ["only_live", "only_shadow", "mismatched"] {
        assert_eq!(summary[field], 0, "{field}: {summary}");
    }
    let mut reported: Vec<String> = summary["events_gone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    reported.sort();
    gone.sort();
    assert_eq!(reported, gone, "{summary}");
}

#[tokio::test]
async fn an_interrupted_rebuild_leaves_the_live_model_alone_and_resumes_where_it_stopped() {
    let services = Arc::new(Services::start().await);
    let cli = Orderflow::for_services(&services);
    let db = services.iso.client().await;
    place(&services, BURST).await;
    wait_settled(&db, BURST).await;
    let live = digest(&db, "order_views").await;
    let mut records = 0;
    for topic in schemas::Topic::ALL {
        let topic = services.topic(topic);
        records += orderflow_tests::group_progress_now(&services.iso.env, "unused", &topic)
            .await
            .1;
    }

    // Ctrl-C as soon as the first batch is committed (or at the end, if it is that quick).
    let mut rebuild = cli
        .command(&["replay", "read-model", "--fresh"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = rebuild.id().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while rebuild.try_wait().unwrap().is_none() && committed_positions(&db).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for a first committed batch"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(interrupted.success());
    rebuild.wait().await.unwrap();
    let committed = committed_positions(&db).await;
    assert_eq!(
        digest(&db, "order_views").await,
        live,
        "the live view was not written"
    );

    // Run again: it reads exactly what the interrupted run had not committed.
    let resumed = cli.json(&["replay", "read-model", "--verify"]).await;
    assert_eq!(
        resumed[0]["rebuilt"]["records"].as_i64().unwrap(),
        records - committed,
        "{resumed:?}"
    );
    assert_eq!(resumed[1]["verify"]["mismatched"], 0, "{resumed:?}");
    assert_eq!(resumed[1]["verify"]["only_live"], 0, "{resumed:?}");
    assert_eq!(digest(&db, "order_views_rebuild").await, live);
}

/// How far the shadow's positions are, summed over every partition (offsets start at 0).
async fn committed_positions(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT coalesce(sum(next_offset), 0)::int8 FROM order_views_rebuild_positions",
        &[],
    )
    .await
    .map(|r| r.get(0))
    .unwrap_or(0)
}

#[tokio::test]
async fn a_rebuild_of_topics_with_unequal_partition_counts_matches_the_live_read_model() {
    // Two partitions for payments against three for the others: one order's events then lie in
    // partitions of different numbers, which the rebuild's workers, split by partition number,
    // must not apply apart (each would insert the order's view).
    let env = Env::from_env();
    let namespace = fresh_namespace();
    env.create_topic_retained(
        &format!("{namespace}{}", schemas::Topic::Payments),
        2,
        Some(CONTRACT_RETENTION_MS),
    )
    .await;
    let options = Options {
        namespace: Some(namespace),
        ..Options::default()
    };
    let services = Arc::new(Services::start_with(env, options).await);
    let cli = Orderflow::for_services(&services);
    let db = services.iso.client().await;
    let orders = 300;
    place(&services, orders).await;

    assert_settled_and_rebuilt(&cli, &db, orders).await;
}

#[tokio::test]
async fn a_second_rebuild_is_refused_while_one_holds_the_shadow() {
    let services = Services::start().await;
    let cli = Orderflow::for_services(&services);
    let placed = services.place(&order_body(&customer(), 1_000)).await;
    services
        .wait_until_scheduled(placed["order_id"].as_str().unwrap())
        .await;
    // The lock a running rebuild holds, taken by the test's own session.
    let holder = services.iso.client().await;
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtext('order_views_rebuild'))",
            &[],
        )
        .await
        .unwrap();

    let refused = cli.run(&["replay", "read-model", "--fresh"]).await;
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("another rebuild of order_views_rebuild is running"),
        "{refused:#?}"
    );
    let shadow: Option<String> = holder
        .query_one("SELECT to_regclass('order_views_rebuild')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shadow, None, "the refused rebuild created no shadow");

    // Once the other rebuild is gone, this one runs.
    holder
        .execute(
            "SELECT pg_advisory_unlock(hashtext('order_views_rebuild'))",
            &[],
        )
        .await
        .unwrap();
    assert_verified(&cli, &["replay", "read-model", "--fresh", "--verify"], 1).await;
}
