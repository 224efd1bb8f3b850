//! A steady order load, open loop: orders are placed at a fixed rate whatever the platform is
//! going through, each followed by a task of its own that waits for the payment's outcome in
//! the view and then takes the order's planned actions (cancel, dispatch, deliver). What each
//! request achieved goes into the [`Ledger`].
//!
//! The plans come from the seed, in placing order: the same seed places the same orders with
//! the same plans (what the faults then do to them depends on timing).

use crate::{
    client::Client,
    ledger::{Ledger, Order, Plan},
};
use orderflow_tests::services::{etag_if_any, order_body, Service};
use rand::{rngs::StdRng, seq::IndexedRandom, Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use tokio::{task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a request is retried (with the same idempotency key) before the load gives up.
const REQUEST_DEADLINE: Duration = Duration::from_secs(120);
/// How long the load waits for an order's payment outcome to show before it stops following.
const DECISION_DEADLINE: Duration = Duration::from_secs(300);
/// Orders followed at once; past it the load places more slowly instead of piling up tasks.
const MAX_IN_FLIGHT: usize = 1_000;

pub struct Load {
    pub client: Client,
    pub ledger: Arc<Ledger>,
    pub seed: u64,
    /// Orders per second.
    pub rate: f64,
    /// payment-service's `PAYMENT_LIMIT_CENTS`: orders above it are declined.
    pub limit_cents: i64,
}

impl Load {
    /// Places orders until `stop`, then waits for every order's task to finish. Returns how
    /// many orders it tried to place.
    pub async fn run(&self, stop: CancellationToken) -> usize {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tasks = JoinSet::new();
        let mut placed = 0;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            while tasks.len() >= MAX_IN_FLIGHT {
                tasks.join_next().await;
            }
            while tasks.try_join_next().is_some() {}
            let declines = rng.random_bool(0.1);
            let amount_cents = if declines {
                self.limit_cents + rng.random_range(1..=100_000)
            } else {
                rng.random_range(100..=self.limit_cents.min(50_000))
            };
            let plan = plan(&mut rng);
            let follow = Follow {
                client: self.client.clone(),
                ledger: self.ledger.clone(),
                key: format!("chaos-{}-{placed}", self.seed),
                customer: format!("chaos-{}", self.seed),
                amount_cents,
                declines,
                plan,
            };
            tasks.spawn(follow.run());
            placed += 1;
        }
        while tasks.join_next().await.is_some() {}
        placed
    }
}

/// A plan by weight: most orders are left alone, the rest cancelled, dispatched or delivered.
fn plan(rng: &mut StdRng) -> Plan {
    const WEIGHTS: [(Plan, u32); 6] = [
        (Plan::Leave, 35),
        (Plan::CancelEarly, 10),
        (Plan::CancelLate, 15),
        (Plan::Dispatch, 20),
        (Plan::Deliver, 10),
        (Plan::DispatchThenCancel, 10),
    ];
    WEIGHTS
        .choose_weighted(rng, |(_, weight)| *weight)
        .expect("positive weights")
        .0
}

/// One order's life as the load drives it.
struct Follow {
    client: Client,
    ledger: Arc<Ledger>,
    key: String,
    customer: String,
    amount_cents: i64,
    declines: bool,
    plan: Plan,
}

impl Follow {
    async fn run(self) {
        let placed_at = Instant::now();
        let order_id = match self.place(placed_at + REQUEST_DEADLINE).await {
            Ok(id) => id,
            Err(why) => return self.ledger.unplaced(format!("{}: {why}", self.key)),
        };
        self.ledger.record(Order::new(
            order_id,
            self.amount_cents,
            self.declines,
            self.plan,
            placed_at,
        ));
        if let Err(why) = self.drive(order_id).await {
            self.ledger.update(order_id, |o| o.gave_up = Some(why));
        }
    }

    async fn place(&self, deadline: Instant) -> Result<Uuid, String> {
        let body = order_body(&self.customer, self.amount_cents);
        let response = self
            .client
            .send(
                Service::Order,
                Method::POST,
                "/orders",
                &[("Idempotency-Key", &self.key)],
                Some(&body),
                deadline,
            )
            .await?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if status != StatusCode::ACCEPTED {
            return Err(format!("POST /orders answered {status}: {text}"));
        }
        let placed: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        placed["order_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| format!("no order id in {placed}"))
    }

    /// Waits for the payment's outcome, then takes the planned actions.
    async fn drive(&self, order_id: Uuid) -> Result<(), String> {
        if self.plan == Plan::CancelEarly {
            self.cancel(order_id).await?;
        }
        let view = self.wait_decided(order_id).await?;
        self.ledger
            .update(order_id, |o| o.decided_at = Some(Instant::now()));
        if view["status"] != "SHIPMENT_SCHEDULED" {
            return Ok(());
        }
        let shipment = view["shipment"]["shipment_id"]
            .as_str()
            .ok_or_else(|| format!("a scheduled order without a shipment: {view}"))?
            .to_owned();
        match self.plan {
            Plan::Leave | Plan::CancelEarly => {}
            Plan::CancelLate => self.cancel(order_id).await?,
            Plan::Dispatch | Plan::Deliver | Plan::DispatchThenCancel => {
                self.advance(order_id, &shipment, "dispatch", "DISPATCHED")
                    .await?;
                self.ledger.update(order_id, |o| o.dispatched = true);
                if self.plan == Plan::Deliver {
                    self.advance(order_id, &shipment, "deliver", "DELIVERED")
                        .await?;
                    self.ledger.update(order_id, |o| o.delivered = true);
                }
                if self.plan == Plan::DispatchThenCancel {
                    // Shipping refuses: 409 when the view shows SHIPPED already, else 202 and
                    // a rejection on the way. Either way the order stays shipped.
                    self.request_cancel(order_id).await?;
                }
            }
        }
        Ok(())
    }

    /// Asks to cancel; records that the request was taken.
    async fn cancel(&self, order_id: Uuid) -> Result<(), String> {
        if self.request_cancel(order_id).await? {
            self.ledger.update(order_id, |o| o.cancel_requested = true);
        }
        Ok(())
    }

    /// `POST /orders/{id}/cancel`: whether it was taken (202, or 200: already cancelled) or
    /// refused (409: shipped).
    async fn request_cancel(&self, order_id: Uuid) -> Result<bool, String> {
        let path = format!("/orders/{order_id}/cancel");
        let response = self
            .client
            .send(
                Service::Order,
                Method::POST,
                &path,
                &[],
                None,
                Instant::now() + REQUEST_DEADLINE,
            )
            .await?;
        match response.status() {
            StatusCode::OK | StatusCode::ACCEPTED => Ok(true),
            StatusCode::CONFLICT => Ok(false),
            other => Err(format!("POST {path} answered {other}")),
        }
    }

    /// `POST /shipments/{id}/{action}` until the shipment is `reached`. A 409 after a retry is
    /// the first attempt's success, which the shipment's state tells.
    async fn advance(
        &self,
        order_id: Uuid,
        shipment: &str,
        action: &str,
        reached: &str,
    ) -> Result<(), String> {
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let path = format!("/shipments/{shipment}/{action}");
        let response = self
            .client
            .send(Service::Shipping, Method::POST, &path, &[], None, deadline)
            .await?;
        match response.status() {
            StatusCode::ACCEPTED => Ok(()),
            StatusCode::CONFLICT => {
                let now = self
                    .client
                    .get_json(
                        Service::Shipping,
                        &format!("/shipments/{shipment}"),
                        deadline,
                    )
                    .await?;
                if now["status"] == reached {
                    Ok(())
                } else {
                    Err(format!(
                        "order {order_id}: {action} refused, shipment {}",
                        now["status"]
                    ))
                }
            }
            other => Err(format!("POST {path} answered {other}")),
        }
    }

    /// Long-polls the order until its view shows the payment's outcome: SHIPMENT_SCHEDULED
    /// (authorized) or CANCELLED, with the payment known.
    async fn wait_decided(&self, order_id: Uuid) -> Result<Value, String> {
        let path = format!("/orders/{order_id}");
        let deadline = Instant::now() + DECISION_DEADLINE;
        let mut etag: Option<String> = None;
        loop {
            let mut headers = Vec::new();
            if let Some(tag) = &etag {
                headers.push(("If-None-Match", tag.as_str()));
                headers.push(("Prefer", "wait=4"));
            }
            let response = self
                .client
                .send(Service::Order, Method::GET, &path, &headers, None, deadline)
                .await?;
            match response.status() {
                StatusCode::OK => {
                    etag = etag_if_any(&response);
                    let view: Value = response.json().await.map_err(|e| e.to_string())?;
                    let decided = view["payment"]["status"].is_string()
                        && matches!(
                            view["status"].as_str(),
                            Some("SHIPMENT_SCHEDULED" | "CANCELLED")
                        );
                    if decided {
                        return Ok(view);
                    }
                }
                StatusCode::NOT_MODIFIED => {}
                other => return Err(format!("GET {path} answered {other}")),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no payment outcome in the view after {DECISION_DEADLINE:?}"
                ));
            }
        }
    }
}
