//! `orderflow offsets` and `offsets reset` on the real stack: a dry run changes nothing,
//! `--execute` moves a stopped group, and a group with active members is refused.

use orderflow_tests::{
    cli::Orderflow,
    fixtures::{event, produce, run_recorder, Isolated, EFFECTS_TABLE},
    group_progress_now, Env,
};
use platform::app::Platform;
use schemas::Topic;

/// Moves the test's group back to the beginning.
const RESET_TO_EARLIEST: &[&str] = &[
    "offsets",
    "reset",
    "--group",
    "recorder",
    "--to",
    "earliest",
    "--execute",
];

#[tokio::test]
async fn offsets_reset_plans_moves_a_stopped_group_and_refuses_an_active_one() {
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    let cli = Orderflow::for_isolated(&iso);
    let platform = Platform::build(iso.settings(), &[EFFECTS_TABLE])
        .await
        .unwrap();
    let topic = iso.topic(Topic::Orders);
    let group = format!("{}recorder", iso.namespace);
    for _ in 0..5 {
        let order = uuid::Uuid::new_v4();
        let value = iso.framed(&event(order, "CUSTOMER_REQUEST"), &topic).await;
        produce(&iso.env, &topic, Some(&order.to_string()), &value).await;
    }

    let (stop, consumer) = run_recorder(&platform);
    orderflow_tests::wait_until(
        std::time::Duration::from_secs(60),
        "the group to commit every offset",
        || async {
            let (committed, end) = group_progress_now(&iso.env, &group, &topic).await;
            (committed == end).then_some(())
        },
    )
    .await;

    // Where the group stands: everything consumed.
    let positions = cli.json(&["offsets", "--group", "recorder"]).await;
    assert!(!positions.is_empty());
    for p in &positions {
        assert_eq!(p["group"], group.as_str());
        assert_eq!(p["topic"], topic.as_str());
        assert_eq!(p["lag"], 0, "{p}");
    }
    let committed_total: i64 = positions
        .iter()
        .map(|p| p["committed"].as_i64().unwrap())
        .sum();
    assert_eq!(committed_total, 5);

    // Active: refused, naming the member.
    let run = cli.run(RESET_TO_EARLIEST).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("active member"), "{}", run.stderr);
    assert!(
        run.stderr.contains("rdkafka @"),
        "the member is named: {}",
        run.stderr
    );

    stop.cancel();
    consumer.await.unwrap().unwrap();

    // A dry run: the plan, and nothing moves.
    let plan = cli
        .json(&[
            "offsets", "reset", "--group", "recorder", "--to", "earliest",
        ])
        .await;
    assert_eq!(plan.len(), 3, "one move per partition: {plan:#?}");
    for m in &plan {
        assert_eq!(m["new"], 0, "{m}");
        assert_eq!(m["executed"], false);
    }
    assert_eq!(group_progress_now(&iso.env, &group, &topic).await, (5, 5));

    // Executed on the stopped group: it moves.
    let done = cli.json(RESET_TO_EARLIEST).await;
    assert_eq!(done.len(), 3, "one move per partition: {done:#?}");
    for m in &done {
        assert_eq!(m["executed"], true, "{m}");
        assert_eq!(m["new"], 0, "{m}");
    }
    assert_eq!(group_progress_now(&iso.env, &group, &topic).await, (0, 5));
    let lag: i64 = cli
        .json(&["offsets", "--group", "recorder"])
        .await
        .iter()
        .map(|p| p["lag"].as_i64().unwrap())
        .sum();
    assert_eq!(lag, 5);

    // Shifted forward by one, within what each partition holds.
    cli.json(&[
        "offsets",
        "reset",
        "--group",
        "recorder",
        "--shift-by",
        "1",
        "--execute",
    ])
    .await;
    let (committed, _) = group_progress_now(&iso.env, &group, &topic).await;
    assert!((1..=3).contains(&committed), "{committed}");
}
