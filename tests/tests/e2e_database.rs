//! The database struggles, the API answers: an exhausted pool and a PostgreSQL restart give
//! 503 problems with `Retry-After` (never a hang, never a 500), `/health/live` and `/metrics`
//! keep answering, and a client that retries with its `Idempotency-Key` gets exactly one order
//! per key.

use futures::{stream, StreamExt};
use orderflow_tests::{
    services::{customer, order_body, Options, Service, Services},
    stack::{Private, SecondStack},
    unique, wait_until, Env,
};
use reqwest::{header, StatusCode};
use serde_json::Value;
use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// What a client saw of one `POST /orders`.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: String,
    took: Duration,
}

async fn post(services: &Services, customer: &str, key: &str) -> Answer {
    let started = Instant::now();
    let response = services
        .post_order(&order_body(customer, 500), &[("Idempotency-Key", key)])
        .await;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, content_type) = (header(header::RETRY_AFTER), header(header::CONTENT_TYPE));
    let status = response.status();
    Answer {
        status,
        retry_after,
        content_type,
        body: response.text().await.unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// Asserts a 503 is the problem the contract promises: problem+json, `Retry-After`.
fn assert_unavailable(answer: &Answer) {
    assert_eq!(answer.retry_after.as_deref(), Some("1"), "{}", answer.body);
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/problem+json")
    );
    let problem: Value = serde_json::from_str(&answer.body).expect("problem JSON");
    assert_eq!(problem["type"], "urn:orderflow:problem:unavailable");
    assert_eq!(problem["status"], 503);
}

/// The order database's count of orders and of distinct idempotency keys among them.
async fn orders_and_keys(database_url: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("order database reachable");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM orders",
            &[],
        )
        .await
        .expect("orders counted");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_in_time_and_recovers() {
    const POOL: usize = 3;
    const REQUESTS: usize = 12;
    let services = Services::start_with(
        Env::from_env(),
        Options {
            env: vec![
                ("ORDER__DATABASE__POOL_SIZE".into(), POOL.to_string()),
                ("ORDER__DATABASE__POOL_WAIT_TIMEOUT_MS".into(), "500".into()),
            ],
            ..Options::default()
        },
    )
    .await;
    // While this lock is held, every order insert waits for it, holding its pooled connection:
    // the pool is exhausted.
    let (mut locker, connection) =
        tokio_postgres::connect(&services.iso.database_url, tokio_postgres::NoTls)
            .await
            .expect("order database reachable");
    tokio::spawn(connection);
    let lock = locker.transaction().await.expect("transaction");
    lock.batch_execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("orders locked");

    let customer = customer();
    let keys: Vec<String> = (0..REQUESTS).map(|_| unique("key")).collect();
    let unavailable = AtomicUsize::new(0);
    let requests = stream::iter(&keys)
        .map(|key| async {
            let answer = post(&services, &customer, key).await;
            if answer.status == StatusCode::SERVICE_UNAVAILABLE {
                unavailable.fetch_add(1, Ordering::SeqCst);
            }
            (key.clone(), answer)
        })
        .buffer_unordered(REQUESTS)
        .collect::<Vec<_>>();
    let meanwhile = async {
        wait_until(
            Duration::from_secs(30),
            "the requests that found no connection to be answered",
            || async { (unavailable.load(Ordering::SeqCst) >= REQUESTS - POOL).then_some(()) },
        )
        .await;
        // The pool is still exhausted: liveness and metrics answer all the same.
        for path in ["/health/live", "/metrics"] {
            let started = Instant::now();
            let response = services
                .http
                .get(services.url(Service::Order, path))
                .send()
                .await
                .expect("answers");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{path} took too long"
            );
        }
        lock.commit().await.expect("lock released");
    };
    let (answers, ()) = tokio::join!(requests, meanwhile);

    let mut retry = Vec::new();
    for (key, answer) in &answers {
        match answer.status {
            StatusCode::ACCEPTED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_unavailable(answer);
                // The pool's wait (500 ms) bounds it, with room for a loaded machine.
                assert!(
                    answer.took < Duration::from_secs(5),
                    "503 after {:?}",
                    answer.took
                );
                retry.push(key);
            }
            other => panic!("POST answered {other}: {}", answer.body),
        }
    }
    assert_eq!(
        retry.len(),
        REQUESTS - POOL,
        "one 503 per request beyond the pool"
    );
    // Recovered: the refused requests, retried with their keys, are accepted.
    for key in retry {
        let answer = post(&services, &customer, key).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    assert_eq!(
        orders_and_keys(&services.iso.database_url).await,
        (REQUESTS as i64, REQUESTS as i64)
    );
    drop(locker);
}

#[tokio::test]
async fn a_postgres_restart_under_load_gives_503s_and_one_order_per_key() {
    const CLIENTS: usize = 16;
    /// Orders placed after PostgreSQL is back, before the load stops.
    const AFTER_RESTART: usize = 200;
    /// A bound on the whole load, whatever happens.
    const AT_MOST: usize = 5_000;
    // A private PostgreSQL (offset 140; 110-130 belong to the other outage tests), so the
    // restart disturbs no other test. Kafka and the registry are the shared ones.
    let stack = SecondStack::up(Private::PostgresRestart);
    let env = Env {
        admin_database_url: stack.postgres_admin_url(),
        ..Env::from_env()
    };
    let services = Services::start_with(env, Options::default()).await;
    let customer = customer();
    let (started, accepted, unavailable, after_restart) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let restarted = AtomicBool::new(false);

    // Each client places orders one after another, retrying a 503 with the same key, until
    // enough orders went through after the restart.
    let client = || async {
        let mut failures = Vec::new();
        while after_restart.load(Ordering::SeqCst) < AFTER_RESTART
            && started.fetch_add(1, Ordering::SeqCst) < AT_MOST
        {
            let key = unique("key");
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let answer = post(&services, &customer, &key).await;
                match answer.status {
                    StatusCode::ACCEPTED => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        if restarted.load(Ordering::SeqCst) {
                            after_restart.fetch_add(1, Ordering::SeqCst);
                        }
                        break;
                    }
                    StatusCode::SERVICE_UNAVAILABLE if Instant::now() < deadline => {
                        assert_unavailable(&answer);
                        unavailable.fetch_add(1, Ordering::SeqCst);
                        // A client honouring Retry-After, shortened to keep the test quick.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    other => {
                        failures.push(format!("{other}: {}", answer.body));
                        break;
                    }
                }
            }
        }
        failures
    };
    let load = futures::future::join_all((0..CLIENTS).map(|_| client()));
    let restart = async {
        wait_until(
            Duration::from_secs(60),
            "a first share of orders",
            || async { (accepted.load(Ordering::SeqCst) >= 100).then_some(()) },
        )
        .await;
        let restarting = stack.restart_in_background("postgres");
        wait_until(Duration::from_secs(120), "PostgreSQL restarted", || async {
            restarting.is_finished().then_some(())
        })
        .await;
        restarting.join().expect("stack.sh restart");
        restarted.store(true, Ordering::SeqCst);
    };
    let (failures, ()) = tokio::join!(load, restart);
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    let accepted = accepted.load(Ordering::SeqCst);
    eprintln!(
        "{accepted} orders accepted, {} answers 503 on the way, {} others",
        unavailable.load(Ordering::SeqCst),
        failures.len()
    );

    assert_eq!(
        failures,
        Vec::<String>::new(),
        "answers other than 202 and 503"
    );
    assert!(
        unavailable.load(Ordering::SeqCst) > 0,
        "the restart was not felt: no 503 at all"
    );
    assert_eq!(
        orders_and_keys(&services.iso.database_url).await,
        (accepted as i64, accepted as i64),
        "exactly one order per idempotency key"
    );
    drop(services);
}
