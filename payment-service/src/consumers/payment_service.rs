//! The consumer group `payment-service` on `orders`: authorize or decline a placed order,
//! refund a cancelled one ([`crate::core::decide`]).

use crate::core::decide;
use platform::{
    consumer::{Handler, HandlerError, InboundEvent},
    outbox::Transaction,
};
use schemas::DomainEvent;

pub struct Payments {
    /// Orders above this total are declined.
    pub limit_cents: i64,
}

impl Handler for Payments {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        match &event.event {
            DomainEvent::OrderPlaced(placed) => {
                decide::charge(tx, placed, self.limit_cents).await?
            }
            DomainEvent::OrderCancelled(cancelled) => decide::refund(tx, cancelled).await?,
            _ => {}
        }
        Ok(())
    }
}
