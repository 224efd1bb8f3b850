//! Reliable consumers on the real stack: poison messages to the dead-letter topic, an
//! unreachable registry, and a consumer killed between its commit and its offset.

use orderflow_tests::{
    fixtures::{effects_of, event, produce, run_recorder, Isolated, EFFECTS_TABLE},
    group_progress_now,
    proxy::Proxy,
    read_topic, wait_until, Env,
};
use platform::{app::Platform, config::CommonSettings, consumer::header_map};
use rdkafka::Message;
use schemas::{DomainEvent, Topic};
use std::{collections::HashMap, process::Command, time::Duration};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_partition_moves_on() {
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    let platform = Platform::build(iso.settings(), &[EFFECTS_TABLE])
        .await
        .unwrap();
    let topic = iso.topic(Topic::Orders);
    let order = Uuid::new_v4().to_string();
    let valid = event(order.parse().unwrap(), "CUSTOMER_REQUEST");
    let valid_value = iso.framed(&valid, &topic).await;
    let mut unknown_id = valid_value.clone();
    unknown_id[1..5].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    let mut garbage_body = valid_value[..5].to_vec();
    garbage_body.extend_from_slice(&[0xff; 3]);
    let rejected = iso
        .framed(&event(order.parse().unwrap(), "POISON"), &topic)
        .await;

    // Every kind of bad message, in one partition, followed by a good one.
    let poison: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("InvalidWireFormat", Some(&order), vec![0, 1]),
        ("InvalidWireFormat", Some(&order), vec![1, 0, 0, 0, 1, 2]),
        ("UnknownSchemaId", Some(&order), unknown_id),
        ("UndecodableBody", Some(&order), garbage_body),
        ("MissingKey", None, valid_value.clone()),
        ("DomainRuleViolation", Some(&order), rejected),
    ];
    for (_, key, value) in &poison {
        produce(&iso.env, &topic, *key, value).await;
    }
    produce(&iso.env, &topic, Some(&order), &valid_value).await;

    let (stop, _) = run_recorder(&platform);
    let db = iso.client().await;
    wait_applied(&db, &valid, "the good message after the poison").await;

    let dlq = iso.dead_letter_topic("recorder");
    let dead = read_topic(&iso.env, &dlq, poison.len(), WAIT).await;
    assert_eq!(
        dead.len(),
        poison.len(),
        "every poison message is dead-lettered"
    );
    for (message, (class, key, value)) in dead.iter().zip(&poison) {
        let headers: HashMap<_, _> = header_map(message);
        assert_eq!(headers["dlq.error.class"], *class, "{headers:?}");
        assert_eq!(message.key(), key.map(str::as_bytes), "key unchanged");
        assert_eq!(message.payload(), Some(&value[..]), "value unchanged");
        assert_eq!(headers["dlq.original.topic"], topic);
        assert_eq!(headers["dlq.original.partition"], "0");
        assert!(headers["dlq.original.offset"].parse::<i64>().is_ok());
        assert!(!headers["dlq.error.message"].is_empty());
        assert_eq!(
            headers["dlq.consumer.group"],
            format!("{}recorder", iso.namespace)
        );
        assert!(headers.contains_key("dlq.failed_at"));
    }
    stop.cancel();
}

#[tokio::test]
async fn consumers_wait_for_an_unreachable_registry_and_dead_letter_nothing() {
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    let (proxy, settings) = registry_behind_proxy(&iso).await;
    let platform = Platform::build(settings, &[EFFECTS_TABLE]).await.unwrap();
    let topic = iso.topic(Topic::Orders);
    let sent = event(Uuid::new_v4(), "CUSTOMER_REQUEST");

    proxy.cut();
    produce_event(&iso, &topic, &sent).await;
    let (stop, _) = run_recorder(&platform);
    let db = iso.client().await;
    // While cut: the consumer keeps asking (a transient failure, retried) and applies nothing.
    wait_until(
        WAIT,
        "the consumer to retry the registry three times",
        || async { (proxy.refused() >= 3).then_some(()) },
    )
    .await;
    assert_eq!(effects_of(&db, sent.header().event_id).await, 0);
    proxy.restore();
    wait_applied(&db, &sent, "the event, once the registry is back").await;
    assert_nothing_dead_lettered(&iso).await;
    stop.cancel();
}

async fn assert_nothing_dead_lettered(iso: &Isolated) {
    assert!(
        dead_letters(iso, 1, Duration::from_secs(3))
            .await
            .is_empty(),
        "nothing was dead-lettered"
    );
}

/// A proxy in front of the registry, which the test can cut, and settings that reach the
/// registry through it.
async fn registry_behind_proxy(iso: &Isolated) -> (Proxy, CommonSettings) {
    let registry_addr = reqwest::Url::parse(&iso.env.registry).unwrap();
    let target = format!(
        "{}:{}",
        registry_addr.host_str().unwrap(),
        registry_addr.port().unwrap()
    );
    let proxy = Proxy::start(target.parse().unwrap()).await;
    let mut settings = iso.settings();
    settings.registry.url = iso.env.registry.replace(&target, &proxy.addr.to_string());
    (proxy, settings)
}

/// Waits until the recorder applied `event` once.
async fn wait_applied(db: &tokio_postgres::Client, event: &DomainEvent, what: &str) {
    let event_id = event.header().event_id;
    wait_until(WAIT, what, || async {
        (effects_of(db, event_id).await == 1).then_some(())
    })
    .await;
}

/// Publishes `event` to `topic` as the relay would: framed, keyed by its order.
async fn produce_event(iso: &Isolated, topic: &str, event: &DomainEvent) {
    let value = iso.framed(event, topic).await;
    let key = event.header().order_id.to_string();
    produce(&iso.env, topic, Some(&key), &value).await;
}

/// The dead letters of the recorder's group in `iso`: key and headers.
async fn dead_letters(
    iso: &Isolated,
    at_least: usize,
    within: Duration,
) -> Vec<(String, HashMap<String, String>)> {
    let dlq = iso.dead_letter_topic("recorder");
    read_topic(&iso.env, &dlq, at_least, within)
        .await
        .iter()
        .map(|m| {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            (key, header_map(m))
        })
        .collect()
}

#[tokio::test]
async fn an_event_that_fails_the_same_way_every_time_is_dead_lettered_after_max_attempts() {
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    let mut settings = iso.settings();
    settings.consumer.max_attempts = 3;
    let platform = Platform::build(settings, &[EFFECTS_TABLE]).await.unwrap();
    let topic = iso.topic(Topic::Orders);
    let failing = event(Uuid::new_v4(), "DIVIDE_BY_ZERO");
    let after = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    for e in [&failing, &after] {
        produce_event(&iso, &topic, e).await;
    }
    let (stop, _) = run_recorder(&platform);

    // The partition moves on: the event behind the failing one is applied.
    let db = iso.client().await;
    wait_applied(&db, &after, "the event behind the failing one").await;
    assert_eq!(effects_of(&db, failing.header().event_id).await, 0);
    let dead = dead_letters(&iso, 1, WAIT).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (key, headers) = &dead[0];
    assert_eq!(key, &failing.header().order_id.to_string());
    assert_eq!(headers["dlq.error.class"], "PersistentFailure");
    let message = &headers["dlq.error.message"];
    assert!(
        message.contains("3 times") && message.contains("division by zero"),
        "{message}"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_registry_outage_longer_than_the_poll_interval_keeps_the_member_in_its_group() {
    const MAX_POLL_MS: u64 = 7_000;
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    let (proxy, mut settings) = registry_behind_proxy(&iso).await;
    // librdkafka's smallest session timeout the broker accepts is 6 s by default.
    for (key, value) in [
        ("max.poll.interval.ms", MAX_POLL_MS.to_string()),
        ("session.timeout.ms", "6000".to_owned()),
    ] {
        settings.kafka.properties.insert(key.into(), value);
    }
    let group = settings.kafka.group("recorder");
    let platform = Platform::build(settings, &[EFFECTS_TABLE]).await.unwrap();
    let topic = iso.topic(Topic::Orders);
    let (stop, _) = run_recorder(&platform);
    let rebalances = || {
        platform::metrics::METRICS
            .consumer_rebalances_total
            .with_label_values(&[&group])
            .get()
    };
    wait_until(WAIT, "the member to be assigned its partitions", || async {
        (rebalances() >= 1).then_some(())
    })
    .await;
    let assigned = rebalances();

    let sent = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    proxy.cut();
    let cut_at = std::time::Instant::now();
    produce_event(&iso, &topic, &sent).await;
    // The outage lasts twice the poll interval, with the consumer retrying all along.
    wait_until(
        WAIT,
        "an outage of twice max.poll.interval.ms, retried throughout",
        || async {
            (cut_at.elapsed() >= Duration::from_millis(2 * MAX_POLL_MS) && proxy.refused() >= 5)
                .then_some(())
        },
    )
    .await;
    let db = iso.client().await;
    assert_eq!(effects_of(&db, sent.header().event_id).await, 0);
    proxy.restore();
    wait_applied(&db, &sent, "the event, once the registry is back").await;
    // A member thrown out meanwhile would rejoin (a new assignment) before it consumed
    // anything more: once a later event is applied, any such rebalance has happened.
    let later = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    produce_event(&iso, &topic, &later).await;
    wait_applied(&db, &later, "a later event to be applied").await;
    assert_eq!(
        rebalances(),
        assigned,
        "the member left its group and rejoined"
    );
    assert_nothing_dead_lettered(&iso).await;
    stop.cancel();
}

fn spawn_recorder(iso: &Isolated, commit_interval_ms: u64) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_recorder"))
        .env("RECORDER_DATABASE_URL", &iso.database_url)
        .env("RECORDER_NAMESPACE", &iso.namespace)
        .env("ORDERFLOW_TEST_KAFKA", &iso.env.kafka)
        .env("ORDERFLOW_TEST_REGISTRY", &iso.env.registry)
        .env(
            "RECORDER_COMMIT_INTERVAL_MS",
            commit_interval_ms.to_string(),
        )
        .spawn()
        .expect("recorder starts")
}

#[tokio::test]
async fn a_consumer_killed_after_its_commit_redelivers_without_a_second_effect() {
    let iso = Isolated::new(Env::from_env(), &["recorder"]).await;
    // Migrations and the table exist before either process starts.
    Platform::build(iso.settings(), &[EFFECTS_TABLE])
        .await
        .unwrap();
    let topic = iso.topic(Topic::Orders);
    let group = format!("{}recorder", iso.namespace);
    let sent = event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    produce_event(&iso, &topic, &sent).await;
    let db = iso.client().await;

    // The first consumer would commit its offsets only after ten minutes.
    let mut first = spawn_recorder(&iso, 600_000);
    wait_applied(&db, &sent, "the first consumer's effect").await;
    first.kill().expect("SIGKILL"); // after its transaction, before any offset commit
    first.wait().unwrap();
    assert_eq!(
        group_progress_now(&iso.env, &group, &topic).await.0,
        0,
        "no offset was committed"
    );

    // The next consumer gets the event again and recognises it.
    let mut second = spawn_recorder(&iso, 100);
    wait_until(
        WAIT,
        "the redelivered event to be processed and committed",
        || async {
            let (committed, end) = group_progress_now(&iso.env, &group, &topic).await;
            (committed == end && end > 0).then_some(())
        },
    )
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(
        effects_of(&db, sent.header().event_id).await,
        1,
        "one effect in all"
    );
}
