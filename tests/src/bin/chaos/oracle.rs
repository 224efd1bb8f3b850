//! The oracle: once the load has stopped and every fault is undone, what must be true.
//!
//! It first waits for the platform to settle (outboxes drained, every consumer group at the
//! end of its partitions, twice in a row), then gathers the truth from every side and checks
//! each order the load got a 202 for against it:
//! - the REST view: the order exists and shows the status its payment decision and the
//!   load's accepted actions imply, with the payment status to match;
//! - the payments and shipments databases: one payment row of that status, at most one
//!   active (scheduled, dispatched or delivered) shipment;
//! - Kafka, read whole: exactly one payment decision event, a refund exactly when an
//!   authorized order was cancelled, at most one cancellation and one scheduled shipment
//!   (by distinct `event_id`; a relay may publish an event twice);
//! - the read model against Kafka: the order's applied events are exactly its distinct
//!   `event_id`s on the log, each once, and `version` counts them (no gap, no double);
//!
//! and, for the whole namespace, that the dead-letter topics are empty and that the read
//! model equals a fresh rebuild from the log (`orderflow replay read-model --fresh --verify`).

use crate::{
    client::Client,
    ledger::{Ledger, Order},
};
use futures::{stream, StreamExt};
use orderflow_tests::{
    cli::Orderflow,
    services::{all_messages, Service, Services, GROUPS},
};
use rdkafka::Message;
use serde_json::Value;
use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    time::Duration,
};
use tokio::time::Instant;
use uuid::Uuid;

/// How long the platform may take to settle once the load stopped and the faults are undone.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);

/// Something that must not happen, and the order it concerns (if one).
#[derive(Debug)]
pub struct Violation {
    pub order_id: Option<Uuid>,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.order_id {
            Some(id) => write!(f, "order {id}: {}", self.what),
            None => write!(f, "{}", self.what),
        }
    }
}

fn global(what: String) -> Violation {
    Violation {
        order_id: None,
        what,
    }
}

pub struct Oracle<'a> {
    pub services: &'a Services,
    pub cli: &'a Orderflow,
    pub client: &'a Client,
}

/// What the log holds about one order: its distinct events by id (with their type) and how
/// many records carried them.
#[derive(Default)]
struct Logged {
    events: HashMap<String, String>,
}

impl Logged {
    fn count(&self, types: &[&str]) -> usize {
        self.events
            .values()
            .filter(|t| types.contains(&t.as_str()))
            .count()
    }
}

/// The status and payment status an order must end with, from what the load did to it.
struct Expected {
    status: &'static str,
    payment: &'static str,
}

fn expected(order: &Order) -> Expected {
    let (status, payment) = if order.declines {
        ("CANCELLED", "DECLINED")
    } else if order.cancel_requested && !order.dispatched {
        ("CANCELLED", "REFUNDED")
    } else if order.delivered {
        ("DELIVERED", "AUTHORIZED")
    } else if order.dispatched {
        ("SHIPPED", "AUTHORIZED")
    } else {
        ("SHIPMENT_SCHEDULED", "AUTHORIZED")
    };
    Expected { status, payment }
}

impl Oracle<'_> {
    /// Waits until the outboxes are drained and no group lags, twice in a row a second
    /// apart; the violations if that does not happen within [`SETTLE_DEADLINE`].
    pub async fn settle(&self) -> Vec<Violation> {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let mut calm_before = false;
        loop {
            let unsettled = self.unsettled().await;
            if unsettled.is_empty() && calm_before {
                return Vec::new();
            }
            calm_before = unsettled.is_empty();
            if Instant::now() >= deadline {
                return unsettled
                    .into_iter()
                    .map(|what| global(format!("not settled after {SETTLE_DEADLINE:?}: {what}")))
                    .collect();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// What is not settled now: unpublished outbox rows, lagging groups.
    async fn unsettled(&self) -> Vec<String> {
        let mut open = Vec::new();
        for service in Service::ALL {
            let db = connect(self.services.database_url(service)).await;
            let pending: i64 = match &db {
                Ok(db) => db
                    .query_one("SELECT count(*) FROM outbox", &[])
                    .await
                    .map_or(-1, |r| r.get(0)),
                Err(_) => -1,
            };
            if pending != 0 {
                open.push(format!(
                    "{} outbox: {pending} unpublished",
                    service.binary()
                ));
            }
        }
        let run = self.cli.run(&["offsets"]).await;
        if run.code != Some(0) {
            open.push(format!("orderflow offsets failed: {}", run.stderr.trim()));
            return open;
        }
        let mut lag: HashMap<String, i64> = HashMap::new();
        for position in run.lines() {
            let group = position["group"].as_str().unwrap_or_default().to_owned();
            *lag.entry(group).or_default() += position["lag"].as_i64().unwrap_or(0);
        }
        for group in GROUPS {
            let name = format!("{}{group}", self.services.iso.namespace);
            match lag.get(&name) {
                None => open.push(format!("group {group}: no committed offsets")),
                Some(0) => {}
                Some(n) => open.push(format!("group {group}: lag {n}")),
            }
        }
        open
    }

    /// Checks every order of `ledger`, the dead letters and the rebuild.
    pub async fn check(&self, ledger: &Ledger) -> Vec<Violation> {
        let mut violations = Vec::new();
        for why in ledger.unplaced_list() {
            violations.push(global(format!("a POST /orders never got a 202: {why}")));
        }
        let logged = self.read_log().await;
        let payments = self
            .rows(Service::Payment, "SELECT order_id, status FROM payments")
            .await;
        let shipments = self
            .rows(Service::Shipping, "SELECT order_id, status FROM shipments")
            .await;
        let applied = self
            .rows(
                Service::Order,
                "SELECT order_id, event_id::text FROM order_view_events",
            )
            .await;
        let orders = ledger.snapshot();
        let views: Vec<(Order, Result<Value, String>)> = stream::iter(orders)
            .map(|order| async move {
                let path = format!("/orders/{}", order.order_id);
                let deadline = Instant::now() + Duration::from_secs(60);
                let view = self.client.get_json(Service::Order, &path, deadline).await;
                (order, view)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let empty = Logged::default();
        for (order, view) in views {
            let id = order.order_id;
            let mut violate = |what: String| {
                violations.push(Violation {
                    order_id: Some(id),
                    what,
                })
            };
            let view = match view {
                Ok(view) => view,
                Err(e) => {
                    violate(format!("the order cannot be read: {e}"));
                    continue;
                }
            };
            if let Some(why) = &order.gave_up {
                violate(format!("the load gave up on it: {why}"));
            }
            let log = logged.get(&id).unwrap_or(&empty);
            check_order(&order, &view, log, &mut violate);
            let payment_rows = payments.get(&id).map_or(&[][..], Vec::as_slice);
            let payment = expected(&order).payment;
            if order.gave_up.is_none() && payment_rows != [payment.to_owned()] {
                violate(format!(
                    "payments table holds {payment_rows:?}, expected one {payment}"
                ));
            }
            let active = shipments.get(&id).map_or(0, |rows| {
                rows.iter()
                    .filter(|s| matches!(s.as_str(), "SCHEDULED" | "DISPATCHED" | "DELIVERED"))
                    .count()
            });
            if active > 1 {
                violate(format!("{active} active shipments"));
            }
            let applied: Vec<&String> = applied.get(&id).map_or(vec![], |e| e.iter().collect());
            let applied_set: BTreeSet<&String> = applied.iter().copied().collect();
            let logged_set: BTreeSet<&String> = log.events.keys().collect();
            if applied.len() != applied_set.len() {
                violate(format!(
                    "the read model applied an event twice: {} applied, {} distinct",
                    applied.len(),
                    applied_set.len()
                ));
            }
            if applied_set != logged_set {
                violate(format!(
                    "the read model applied {} events, the log holds {} distinct ones ({} missing, {} unknown)",
                    applied_set.len(),
                    logged_set.len(),
                    logged_set.difference(&applied_set).count(),
                    applied_set.difference(&logged_set).count()
                ));
            }
            if view["version"].as_u64() != Some(applied.len() as u64) {
                violate(format!(
                    "version {} but {} events applied",
                    view["version"],
                    applied.len()
                ));
            }
        }
        violations.extend(self.dead_letters().await);
        violations.extend(self.rebuild().await);
        violations
    }

    /// Every contract topic read whole: each order's distinct events by id.
    async fn read_log(&self) -> HashMap<Uuid, Logged> {
        let mut logged: HashMap<Uuid, Logged> = HashMap::new();
        for topic in schemas::Topic::ALL {
            let topic = self.services.topic(topic);
            for m in all_messages(&self.services.iso.env, &topic).await {
                let Some(order_id) = m
                    .key()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(|k| k.parse().ok())
                else {
                    continue;
                };
                let headers = platform::consumer::header_map(&m);
                let (Some(event_id), Some(event_type)) =
                    (headers.get("event_id"), headers.get("event_type"))
                else {
                    continue;
                };
                let short = event_type.rsplit('.').next().unwrap_or_default().to_owned();
                logged
                    .entry(order_id)
                    .or_default()
                    .events
                    .insert(event_id.clone(), short);
            }
        }
        logged
    }

    /// `sql`'s `(order_id, text)` rows on `service`'s database, by order.
    async fn rows(&self, service: Service, sql: &str) -> HashMap<Uuid, Vec<String>> {
        let db = connect(self.services.database_url(service))
            .await
            .unwrap_or_else(|e| panic!("{} database: {e}", service.binary()));
        let mut by_order: HashMap<Uuid, Vec<String>> = HashMap::new();
        for row in db
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
        {
            by_order.entry(row.get(0)).or_default().push(row.get(1));
        }
        by_order
    }

    async fn dead_letters(&self) -> Vec<Violation> {
        let mut violations = Vec::new();
        for group in GROUPS {
            let topic = self.services.iso.dead_letter_topic(group);
            for m in all_messages(&self.services.iso.env, &topic).await {
                let mut headers = platform::consumer::header_map(&m);
                violations.push(Violation {
                    order_id: m
                        .key()
                        .and_then(|k| std::str::from_utf8(k).ok())
                        .and_then(|k| k.parse().ok()),
                    what: format!(
                        "dead-lettered by {group}: {}",
                        headers.remove("dlq.error.message").unwrap_or_default()
                    ),
                });
            }
        }
        violations
    }

    /// `orderflow replay read-model --fresh --verify`: no difference allowed.
    async fn rebuild(&self) -> Vec<Violation> {
        let run = self
            .cli
            .run(&["replay", "read-model", "--fresh", "--verify"])
            .await;
        if run.code != Some(0) {
            return vec![global(format!("the rebuild failed: {}", run.stderr.trim()))];
        }
        let lines = run.lines();
        let Some(verify) = lines.iter().find_map(|l| l.get("verify")) else {
            return vec![global(format!(
                "the rebuild printed no verify: {}",
                run.stdout
            ))];
        };
        let differences: u64 = ["only_live", "only_shadow", "mismatched"]
            .iter()
            .map(|f| verify[f].as_u64().unwrap_or(0))
            .sum();
        let mut violations = Vec::new();
        if differences > 0 {
            violations.push(global(format!(
                "the read model differs from a fresh rebuild in {differences} orders: {}",
                verify["examples"]
            )));
        }
        if verify["events_gone"]
            .as_array()
            .is_some_and(|g| !g.is_empty())
        {
            violations.push(global(format!(
                "events gone from the log: {}",
                verify["events_gone"]
            )));
        }
        violations
    }
}

/// The order's view and its events on the log against what the load's actions imply.
fn check_order(order: &Order, view: &Value, log: &Logged, violate: &mut impl FnMut(String)) {
    if view["total_cents"] != order.amount_cents {
        violate(format!(
            "total {} but {} was ordered",
            view["total_cents"], order.amount_cents
        ));
    }
    let decisions = log.count(&["PaymentAuthorized", "PaymentDeclined"]);
    if decisions != 1 {
        violate(format!("{decisions} payment decisions on the log"));
    }
    let authorized = log.count(&["PaymentAuthorized"]) == 1;
    let cancelled = log.count(&["OrderCancelled"]);
    if cancelled > 1 {
        violate(format!("{cancelled} OrderCancelled events"));
    }
    let refunds = log.count(&["PaymentRefunded"]);
    let refund_due = usize::from(authorized && cancelled > 0);
    if refunds != refund_due {
        violate(format!(
            "{refunds} refunds for an order {}authorized and {}cancelled",
            if authorized { "" } else { "not " },
            if cancelled > 0 { "" } else { "not " }
        ));
    }
    let scheduled = log.count(&["ShipmentScheduled"]);
    if scheduled > 1 {
        violate(format!("{scheduled} shipments scheduled"));
    }
    if order.gave_up.is_some() {
        return;
    }
    let expected = expected(order);
    if view["status"] != expected.status || view["payment"]["status"] != expected.payment {
        violate(format!(
            "status {} with payment {}, expected {} with payment {} ({:?}, cancel requested: {}, dispatched: {}, delivered: {})",
            view["status"],
            view["payment"]["status"],
            expected.status,
            expected.payment,
            order.plan,
            order.cancel_requested,
            order.dispatched,
            order.delivered
        ));
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Plan;

    fn order(declines: bool, plan: Plan) -> Order {
        Order::new(Uuid::new_v4(), 1_000, declines, plan, Instant::now())
    }

    fn logged(types: &[&str]) -> Logged {
        Logged {
            events: types
                .iter()
                .map(|t| (Uuid::new_v4().to_string(), (*t).to_owned()))
                .collect(),
        }
    }

    fn violations(order: &Order, view: &Value, log: &Logged) -> Vec<String> {
        let mut found = Vec::new();
        check_order(order, view, log, &mut |v| found.push(v));
        found
    }

    fn view(status: &str, payment: &str) -> Value {
        serde_json::json!({"status": status, "payment": {"status": payment}, "total_cents": 1_000})
    }

    #[test]
    fn a_cancelled_authorized_order_with_its_refund_passes() {
        let mut cancelled = order(false, Plan::CancelLate);
        cancelled.cancel_requested = true;
        let log = logged(&[
            "OrderPlaced",
            "PaymentAuthorized",
            "OrderCancelled",
            "PaymentRefunded",
        ]);
        let found = violations(&cancelled, &view("CANCELLED", "REFUNDED"), &log);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_missing_refund_a_second_decision_and_a_wrong_status_are_each_reported() {
        let mut cancelled = order(false, Plan::CancelLate);
        cancelled.cancel_requested = true;
        let log = logged(&[
            "OrderPlaced",
            "PaymentAuthorized",
            "PaymentDeclined",
            "OrderCancelled",
        ]);
        let found = violations(&cancelled, &view("SHIPMENT_SCHEDULED", "AUTHORIZED"), &log);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("2 payment decisions"), "{found:?}");
        assert!(found[1].contains("0 refunds"), "{found:?}");
        assert!(found[2].contains("expected CANCELLED"), "{found:?}");
    }

    #[test]
    fn a_dispatched_order_stays_shipped_whatever_cancellation_was_asked() {
        let mut shipped = order(false, Plan::DispatchThenCancel);
        shipped.dispatched = true;
        let log = logged(&["OrderPlaced", "PaymentAuthorized", "ShipmentScheduled"]);
        assert!(violations(&shipped, &view("SHIPPED", "AUTHORIZED"), &log).is_empty());
        let found = violations(&shipped, &view("CANCELLED", "AUTHORIZED"), &log);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn a_declined_order_must_end_cancelled_without_refund() {
        let declined = order(true, Plan::Leave);
        let log = logged(&["OrderPlaced", "PaymentDeclined", "OrderCancelled"]);
        assert!(violations(&declined, &view("CANCELLED", "DECLINED"), &log).is_empty());
        let refunded = logged(&[
            "OrderPlaced",
            "PaymentDeclined",
            "OrderCancelled",
            "PaymentRefunded",
        ]);
        let found = violations(&declined, &view("CANCELLED", "DECLINED"), &refunded);
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
