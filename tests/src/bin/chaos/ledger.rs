//! What the load did to each order it got a 202 for: the payment decision it expects, the
//! actions whose requests went through, and when the order's view first showed its decision.
//! The load writes it; the fault schedule reads it to tell when the platform has converged
//! after a fault; the oracle reads it at the end to know what each order must look like.

use std::{collections::HashMap, sync::Mutex, time::Duration};
use tokio::time::Instant;
use uuid::Uuid;

/// What the load plans for an order once placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing: the order stays SHIPMENT_SCHEDULED (or CANCELLED when declined).
    Leave,
    /// Cancel at once, before payment and shipping had their say.
    CancelEarly,
    /// Cancel once the shipment is scheduled.
    CancelLate,
    /// Dispatch the shipment.
    Dispatch,
    /// Dispatch, then deliver.
    Deliver,
    /// Dispatch, then ask to cancel: shipping must refuse, the order stays SHIPPED.
    DispatchThenCancel,
}

/// One order that got a 202, and what became of the load's requests about it.
#[derive(Clone, Debug)]
pub struct Order {
    pub order_id: Uuid,
    pub amount_cents: i64,
    /// Above the payment limit: payment must decline it and the saga cancel it.
    pub declines: bool,
    pub plan: Plan,
    /// When the first `POST /orders` of its idempotency key was sent.
    pub placed_at: Instant,
    /// When its view first showed the payment's outcome (SHIPMENT_SCHEDULED or CANCELLED).
    pub decided_at: Option<Instant>,
    /// A cancellation request was accepted (202, or 200 already cancelled) while the
    /// shipment had not been dispatched by the load.
    pub cancel_requested: bool,
    /// The dispatch went through (202, or a retry that found it dispatched).
    pub dispatched: bool,
    pub delivered: bool,
    /// Why the load stopped following the order early, if it did.
    pub gave_up: Option<String>,
}

impl Order {
    pub fn new(order_id: Uuid, amount_cents: i64, declines: bool, plan: Plan, at: Instant) -> Self {
        Order {
            order_id,
            amount_cents,
            declines,
            plan,
            placed_at: at,
            decided_at: None,
            cancel_requested: false,
            dispatched: false,
            delivered: false,
            gave_up: None,
        }
    }

    /// From the first request to the view showing the payment's outcome.
    pub fn end_to_end(&self) -> Option<Duration> {
        Some(self.decided_at? - self.placed_at)
    }

    /// Whether the load no longer waits for this order's decision.
    fn finished_waiting(&self) -> bool {
        self.decided_at.is_some() || self.gave_up.is_some()
    }
}

/// Every order the load placed, by id, and the requests that never got a 202.
#[derive(Default)]
pub struct Ledger {
    orders: Mutex<HashMap<Uuid, Order>>,
    unplaced: Mutex<Vec<String>>,
}

impl Ledger {
    pub fn record(&self, order: Order) {
        self.lock().insert(order.order_id, order);
    }

    /// Changes the order `order_id` (which [`Ledger::record`] recorded).
    pub fn update(&self, order_id: Uuid, change: impl FnOnce(&mut Order)) {
        if let Some(order) = self.lock().get_mut(&order_id) {
            change(order);
        }
    }

    /// A `POST /orders` whose key never got a 202 (why), e.g. every retry timed out.
    pub fn unplaced(&self, why: String) {
        self.unplaced.lock().expect("ledger lock").push(why);
    }

    pub fn unplaced_list(&self) -> Vec<String> {
        self.unplaced.lock().expect("ledger lock").clone()
    }

    /// Orders placed before `at` whose decision the view has not shown yet.
    pub fn undecided_before(&self, at: Instant) -> usize {
        self.lock()
            .values()
            .filter(|o| o.placed_at < at && !o.finished_waiting())
            .count()
    }

    pub fn snapshot(&self) -> Vec<Order> {
        let mut all: Vec<Order> = self.lock().values().cloned().collect();
        all.sort_by_key(|o| o.placed_at);
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Order>> {
        self.orders.lock().expect("ledger lock")
    }
}
